"""getFile and file downloads through python-telegram-bot."""

from __future__ import annotations

import aiohttp
import pytest
from telegram import Bot
from telegram.error import BadRequest

from standin import BotApiStandIn

_PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF"


async def _only_message_update(bot: Bot) -> dict[str, object]:
    updates = await bot.get_updates()
    assert len(updates) == 1 and updates[0].message is not None
    return updates[0].message.to_dict()


async def test_document_download_returns_exact_bytes(bot: Bot, stand_in: BotApiStandIn) -> None:
    """A document the user sent downloads byte for byte through File.download_as_bytearray."""
    witness = stand_in.user(1001, "Ada")
    await witness.send_document(_PDF, file_name="scene.pdf", mime_type="application/pdf")
    updates = await bot.get_updates()
    document = updates[0].message.document if updates[0].message else None
    assert document is not None and document.file_size == len(_PDF)
    file = await bot.get_file(document.file_id)
    assert file.file_path is not None and file.file_path.endswith(".pdf")
    assert bytes(await file.download_as_bytearray()) == _PDF
    assert stand_in.downloads == [file.file_path.split("/file/bot", 1)[1].split("/", 1)[1]]


async def test_both_photo_sizes_download(bot: Bot, stand_in: BotApiStandIn) -> None:
    """Every photo size is downloadable and the largest holds the bytes the user sent."""
    witness = stand_in.user(1001, "Ada")
    await witness.send_photo(b"\xff\xd8\xff-jpeg-bytes")
    updates = await bot.get_updates()
    sizes = updates[0].message.photo if updates[0].message else ()
    assert len(sizes) >= 2
    small = await (await bot.get_file(sizes[0].file_id)).download_as_bytearray()
    largest = await (await sizes[-1].get_file()).download_as_bytearray()
    assert bytes(largest) == b"\xff\xd8\xff-jpeg-bytes"
    assert len(small) == sizes[0].file_size


async def test_big_document_is_refused(bot: Bot, stand_in: BotApiStandIn) -> None:
    """getFile on a document over 20 MB fails with "file is too big"."""
    witness = stand_in.user(1001, "Ada")
    await witness.send_big_document(21 * 1024 * 1024, file_name="big.mp4", mime_type="video/mp4")
    updates = await bot.get_updates()
    document = updates[0].message.document if updates[0].message else None
    assert document is not None and document.file_size == 21 * 1024 * 1024
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(document.file_id)


async def test_download_limit_is_configurable(token: str) -> None:
    """max_download_bytes moves the getFile limit; files up to it still download."""
    async with BotApiStandIn(token, max_download_bytes=1000) as server:
        witness = server.user(1001, "Ada")
        await witness.send_big_document(1000, file_name="ok.bin", mime_type="application/x")
        await witness.send_big_document(1001, file_name="no.bin", mime_type="application/x")
        async with Bot(token, base_url=server.base_url, base_file_url=server.base_file_url) as b:
            updates = await b.get_updates()
            ok, too_big = (u.message.document for u in updates if u.message)
            assert ok is not None and too_big is not None
            data = await (await b.get_file(ok.file_id)).download_as_bytearray()
            assert bytes(data) == bytes(1000)
            with pytest.raises(BadRequest, match=r"(?i)file is too big"):
                await b.get_file(too_big.file_id)


async def test_unknown_file_id_and_unissued_path(bot: Bot, stand_in: BotApiStandIn) -> None:
    """An unknown file_id is refused and a path is only downloadable after getFile."""
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("no-such-file")
    witness = stand_in.user(1001, "Ada")
    await witness.send_document(b"abc", file_name="n.txt", mime_type="text/plain")
    url = f"{stand_in.base_file_url}{stand_in.token}/documents/file_1.txt"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 404
            assert (await response.json())["description"] == "Not Found"
        update = await _only_message_update(bot)
        document = update["document"]
        assert isinstance(document, dict)
        await bot.get_file(str(document["file_id"]))
        async with session.get(url) as response:
            assert response.status == 200
            assert await response.read() == b"abc"
