"""Attachments stream from the Bot API into their sealed items, a few chunks at a time.

Sealing streamed input gives standard age files (opened by Debian's `age`) with the right
SHA-256; a download that fails half-way leaves no blob and says so without the bot token; no
more files are in flight than the limit allows; prepare writes blobs but commits nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from PIL import Image
from telegram import Bot, File

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, Conversation, Draft, MediaRef, load_questionnaire
from bot.core.draft import ChoiceAnswer, DateAnswer, MediaAnswer, PlaceAnswer, TextAnswer
from bot.i18n import translations
from bot.sealing import ItemSealer, WorkSlots
from bot.submission import (
    AttachmentUnavailable,
    Fetch,
    ReportSubmitter,
    fetch_from_memory,
    seal_attachments,
)
from bot.telegram.download import TelegramFiles
from bot.telegram.sender import BotApiSender
from cli.logging_policy import SafeFilter, SafeFormatter
from review.recipients import add_reviewer
from standin.faults import DOWNLOAD, Faults
from standin.server import BotApiStandIn
from storage import BlobStore, ItemRole, NewItem, Storage
from storage.blobs import BlobWriter
from storage.server_keys import load_or_create_server_keys
from tests.support import skip_or_fail

TOKEN = "987654321:TEST-streaming-token-never-printed-q7"
SECRET_PART = TOKEN.split(":", 1)[1]
CHUNK = crypto.CHUNK_SIZE
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * 1024 * 1024 + 7]
MB = 1024 * 1024


def _document(handle: str, size: int | None = None) -> MediaRef:
    return MediaRef("document", handle, size, "evidence.bin", "application/octet-stream")


def _all_files(root: Path) -> list[Path]:
    """Every file under a blob store, temporary ones included."""
    return [p for p in root.rglob("*") if p.is_file()]


def _age_open(identity: crypto.X25519Identity, item: NewItem, blobs: BlobStore,
              scratch: Path) -> bytes:
    key = scratch / "key.txt"
    key.write_text(f"{identity}\n")
    sealed = scratch / "item.age"
    with blobs.open(item.item_id) as payload:
        sealed.write_bytes(item.header + payload.read())
    return subprocess.run(["age", "-d", "-i", str(key), str(sealed)], check=True,
                          capture_output=True, timeout=120).stdout


@pytest.mark.parametrize("size", SIZES)
async def test_streamed_seal_opens_with_stock_age(size: int, tmp_path: Path) -> None:
    """Chunks of an awkward size cross every 64 KiB boundary; age gets the input back exactly."""
    if shutil.which("age") is None:
        skip_or_fail("Debian's age CLI not installed (apt-get install age)")
    data = os.urandom(size)
    identity = crypto.generate_identity()
    blobs = BlobStore(tmp_path / "blobs")
    sealer = ItemSealer(blobs, [identity.recipient], (crypto.key_id(identity.recipient),))
    written: list[NewItem] = []
    [facts] = await seal_attachments(
        sealer, [_document("h", size)], fetch_from_memory({"h": data}, chunk_size=7001), 1,
        written, slots=WorkSlots(),
    )
    [item] = written
    assert item.role is ItemRole.ATTACHMENT and item.seq == facts.seq == 1
    assert facts.size == size
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert _age_open(identity, item, blobs, tmp_path) == data
    assert blobs.names() == [item.item_id]
    assert len(_all_files(blobs.root)) == 1  # no temporary file left behind


def _failing_fetch(good_chunks: int, error: Exception) -> Fetch:
    async def fetch(media: MediaRef) -> AsyncGenerator[bytes, None]:
        for _ in range(good_chunks):
            yield os.urandom(CHUNK)
        raise error

    return fetch


async def test_failure_mid_stream_leaves_no_blob(tmp_path: Path) -> None:
    """A fetch that dies after 3 chunks: AttachmentUnavailable, and nothing on disk."""
    identity = crypto.generate_identity()
    blobs = BlobStore(tmp_path / "blobs")
    sealer = ItemSealer(blobs, [identity.recipient], ("k",))
    written: list[NewItem] = []
    with pytest.raises(AttachmentUnavailable) as raised:
        await seal_attachments(
            sealer, [_document("h")], _failing_fetch(3, ConnectionResetError("reset")), 1,
            written, slots=WorkSlots(),
        )
    assert raised.value.reason == "ConnectionResetError"
    assert written == []
    assert _all_files(blobs.root) == []


class _DiskFillsUp(BlobStore):
    """A blob store whose disk is full after a few writes of each blob."""

    def create(self, name: str) -> BlobWriter:
        writer = super().create(name)
        original = writer.write
        writes = 0

        def write(data: bytes | bytearray | memoryview) -> int:
            nonlocal writes
            writes += 1
            if writes > 3:
                raise OSError(errno.ENOSPC, "No space left on device")
            return original(data)

        writer.write = write  # type: ignore[method-assign]
        return writer


async def test_sealing_failure_stops_the_download(tmp_path: Path) -> None:
    """If sealing fails (the disk fills up), the producer stops and nothing is left."""
    identity = crypto.generate_identity()
    blobs = _DiskFillsUp(tmp_path / "blobs")
    sealer = ItemSealer(blobs, [identity.recipient], ("k",))
    produced = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        while True:
            produced += 1
            yield bytes(CHUNK)

    with pytest.raises(OSError) as raised:
        await asyncio.wait_for(sealer.seal_stream(1, ItemRole.ATTACHMENT, endless()), 60)
    assert raised.value.errno == errno.ENOSPC
    assert produced < 20  # stopped at the bridge's bound, not after an endless download
    assert _all_files(blobs.root) == []


async def test_cancelled_seal_leaves_no_blob_and_no_thread(tmp_path: Path) -> None:
    """A submission cancelled mid-file (shutdown): the sealing thread ends, its blob goes."""
    identity = crypto.generate_identity()
    blobs = BlobStore(tmp_path / "blobs")
    sealer = ItemSealer(blobs, [identity.recipient], ("k",))
    flowing = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield os.urandom(CHUNK)
        flowing.set()
        await asyncio.Event().wait()  # the witness's download hangs
        yield b""

    task = asyncio.create_task(sealer.seal_stream(1, ItemRole.ATTACHMENT, stalls()))
    await flowing.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The cancelled task returned only after its thread had discarded the partial blob.
    assert _all_files(blobs.root) == []


async def test_no_more_files_in_flight_than_the_limit(tmp_path: Path) -> None:
    """Twelve submissions at once with a limit of 3: never more than 3 downloads open."""
    identity = crypto.generate_identity()
    blobs = BlobStore(tmp_path / "blobs")
    sealer = ItemSealer(blobs, [identity.recipient], ("k",))
    slots = WorkSlots(files=3)
    open_now = peak = 0

    async def fetch(media: MediaRef) -> AsyncGenerator[bytes, None]:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        try:
            for _ in range(8):
                await asyncio.sleep(0)
                yield os.urandom(CHUNK)
        finally:
            open_now -= 1

    async def one(n: int) -> list[NewItem]:
        written: list[NewItem] = []
        await seal_attachments(sealer, [_document(f"a{n}"), _document(f"b{n}")], fetch, 1,
                               written, slots=slots)
        return written

    results = await asyncio.gather(*(one(n) for n in range(12)))
    assert peak == 3
    assert sum(len(r) for r in results) == 24
    assert len(blobs.names()) == 24


def _png(size: tuple[int, int] = (40, 30), padding: int = 0) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(out, "PNG")
    # Bytes after IEND are ignored by decoders: a large file with a small picture.
    return out.getvalue() + bytes(padding)


async def test_only_images_within_the_cap_get_a_working_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image gets its copy; a non-image or an image over the byte cap streams alone."""
    monkeypatch.setattr("bot.submission.MAX_IMAGE_BYTES", 2 * CHUNK)
    identity = crypto.generate_identity()
    blobs = BlobStore(tmp_path / "blobs")
    sealer = ItemSealer(blobs, [identity.recipient], ("k",))
    files = {"small": _png(), "big": _png(padding=3 * CHUNK), "text": b"not an image" * 9000}
    written: list[NewItem] = []
    facts = await seal_attachments(
        sealer, [_document(h) for h in files], fetch_from_memory(files, 1000), 1, written,
        slots=WorkSlots(),
    )
    assert [(i.seq, i.role, i.parent_seq) for i in written] == [
        (1, ItemRole.ATTACHMENT, None), (2, ItemRole.WORKING_COPY, 1),
        (3, ItemRole.ATTACHMENT, None), (4, ItemRole.ATTACHMENT, None),
    ]
    assert [f.seq for f in facts] == [1, 3, 4]
    assert [f.sha256 for f in facts] == [hashlib.sha256(d).hexdigest() for d in files.values()]
    copy = crypto.open_bytes(written[1].header, blobs.open(written[1].item_id).read(), [identity])
    assert Image.open(io.BytesIO(copy)).size == (40, 30)


# -- the whole path: the real python-telegram-bot against the stand-in -------------------------


def _draft(handles: list[str]) -> Draft:
    return Draft(draft_id=secrets.token_hex(8), language="en", answers={
        "category": ChoiceAnswer("violence"),
        "what": TextAnswer("streamed"),
        "when": DateAnswer(dt.date(2026, 5, 31)),
        "where": PlaceAnswer("Near the market"),
        "evidence": MediaAnswer(tuple(_document(h) for h in handles)),
    })


@contextlib.asynccontextmanager
async def _submitter(database_url: str, data_dir: Path) -> AsyncIterator[
        tuple[ReportSubmitter, Storage, crypto.X25519Identity]]:
    reviewer = crypto.generate_identity()
    storage = await Storage.open(database_url, data_dir / "blobs")
    try:
        await add_reviewer(storage, "reviewer-a", str(reviewer.recipient))
        conversation = Conversation(load_questionnaire(DEFAULT_QUESTIONNAIRE), translations)
        keys = load_or_create_server_keys(data_dir)
        yield ReportSubmitter(storage, keys, conversation), storage, reviewer
    finally:
        await storage.close()


class _Bot(Bot):
    """python-telegram-bot's own Bot, with a hook run after each getFile."""

    _after_get_file: Callable[[], object] = staticmethod(lambda: None)

    async def get_file(self, *args: Any, **kwargs: Any) -> File:
        answer = await super().get_file(*args, **kwargs)
        self._after_get_file()
        return answer


@contextlib.asynccontextmanager
async def _bot(standin: BotApiStandIn, file_root: str | None = None) -> AsyncIterator[_Bot]:
    bot = _Bot(TOKEN, base_url=standin.base_url,
              base_file_url=f"{file_root or standin.root_url}/file/bot")
    async with bot:
        yield bot


async def test_telegram_file_streams_into_a_committed_report(
    database_url: str, tmp_path: Path
) -> None:
    """A 3 MB document from the stand-in, over PTB and httpx, into a report that opens."""
    data = os.urandom(3 * MB + 5)
    async with _submitter(database_url, tmp_path / "data") as (submitter, storage, reviewer), \
            BotApiStandIn(TOKEN) as standin, _bot(standin) as bot:
        stored = standin.state.add_file("documents", "bin", data, len(data))
        files = TelegramFiles(bot, max_bytes=20 * MB)
        receipt = await submitter.submit(_draft([stored.file_id]), submission_id="s1",
                                         fetch=files.stream)
        report = await storage.reports.get(receipt.report_id)
        assert report is not None
        attachment = next(i for i in report.items if i.role is ItemRole.ATTACHMENT)
        with storage.blobs.open(attachment.item_id) as payload:
            assert crypto.open_bytes(attachment.header, payload.read(), [reviewer]) == data
        answers = next(i for i in report.items if i.role is ItemRole.ANSWERS)
        with storage.blobs.open(answers.item_id) as payload:
            document = json.loads(crypto.open_bytes(answers.header, payload.read(), [reviewer]))
        assert document["attachments"][0]["sha256"] == hashlib.sha256(data).hexdigest()
        assert document["attachments"][0]["size"] == len(data)


async def test_prepare_writes_blobs_but_commits_nothing(database_url: str, tmp_path: Path) -> None:
    """prepare seals and syncs payloads without a row; discard deletes them; add commits."""
    files = {"a": os.urandom(200_000), "b": _png()}
    async with _submitter(database_url, tmp_path / "data") as (submitter, storage, _reviewer):
        prepared = await submitter.prepare(_draft(["a", "b"]), submission_id="p1",
                                           fetch=fetch_from_memory(files))
        assert [i.role for i in prepared.items] == [
            ItemRole.ANSWERS, ItemRole.ATTACHMENT, ItemRole.ATTACHMENT, ItemRole.WORKING_COPY]
        assert sorted(storage.blobs.names()) == sorted(i.item_id for i in prepared.items)
        assert await storage.reports.get(prepared.report.report_id) is None
        assert prepared.receipt.code not in repr(prepared)
        prepared.discard()
        assert storage.blobs.names() == []
        again = await submitter.prepare(_draft(["a"]), submission_id="p2",
                                        fetch=fetch_from_memory(files))
        await storage.reports.add(again.report)
        assert await storage.reports.get(again.report.report_id) is not None


class _RawRecords(logging.Handler):
    """Every record production would write, formatted as production does minus redaction."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(SafeFormatter(secrets=[]))  # no safety net: nothing may need it
        self.addFilter(SafeFilter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        if record.name.startswith("intake"):
            self.lines.append(record.getMessage())


@contextlib.contextmanager
def _raw_logs() -> Iterator[_RawRecords]:
    handler = _RawRecords()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


async def _cut_off_server(sent: int, declared: int) -> tuple[web.AppRunner, str]:
    """A file server that promises `declared` bytes, sends `sent`, then drops the connection."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = declared
        await response.prepare(request)
        await response.write(os.urandom(sent))
        assert request.transport is not None
        request.transport.close()
        return response

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("failure", ["cut_off", "refused", "gone", "too_large"])
async def test_failed_download_keeps_the_token_out_and_leaves_no_blob(
    failure: str, database_url: str, tmp_path: Path
) -> None:
    """Each way a download fails: AttachmentUnavailable, no blob, token in no message or log."""
    data = os.urandom(2 * MB)
    runner = None
    async with _submitter(database_url, tmp_path / "data") as (submitter, storage, _reviewer), \
            BotApiStandIn(TOKEN) as standin:
        file_root = None
        if failure == "cut_off":
            runner, file_root = await _cut_off_server(300_000, len(data))
        elif failure == "refused":
            with contextlib.closing(__import__("socket").socket()) as probe:
                probe.bind(("127.0.0.1", 0))
                file_root = f"http://127.0.0.1:{probe.getsockname()[1]}"
        try:
            async with _bot(standin, file_root) as bot:
                good = standin.state.add_file("documents", "bin", b"", 0)
                bad = standin.state.add_file("documents", "bin", data, len(data))
                if failure == "gone":
                    # getFile answers, then the file is gone when it is fetched.
                    bot._after_get_file = lambda: standin.state.files_by_path.pop(bad.file_path)
                limit = MB if failure == "too_large" else 20 * MB
                from_telegram = TelegramFiles(bot, max_bytes=limit).stream
                # The first file arrives whole (from memory), the second fails half-way.
                from_memory = fetch_from_memory({good.file_id: os.urandom(100_000)})

                def fetch(media: MediaRef) -> AsyncGenerator[bytes, None]:
                    return (from_memory if media.handle == good.file_id else from_telegram)(media)

                with _raw_logs() as logs, pytest.raises(AttachmentUnavailable) as raised:
                    await submitter.submit(_draft([good.file_id, bad.file_id]),
                                           submission_id="f1", fetch=fetch)
        finally:
            if runner is not None:
                await runner.cleanup()
        assert _all_files(storage.blobs.root) == []
    expected = {"cut_off": "RemoteProtocolError", "refused": "ConnectError",
                "gone": "http_404", "too_large": "too_large"}[failure]
    for error in _chain(raised.value):
        assert SECRET_PART not in str(error) and SECRET_PART not in repr(error)
        assert all(SECRET_PART not in str(arg) for arg in error.args)
    assert not [line for line in logs.lines if SECRET_PART in line]
    assert raised.value.reason == expected
    assert any(f"reason={expected}" in line for line in logs.lines)


async def test_local_bot_api_server_paths_are_read_from_disk(tmp_path: Path) -> None:
    """A local Bot API server answers getFile with an absolute path: read it, as PTB does."""
    data = os.urandom(300_000)
    local = tmp_path / "telegram-bot-api" / "documents" / "file_7.bin"
    local.parent.mkdir(parents=True)
    local.write_bytes(data)
    async with BotApiStandIn(TOKEN) as standin, _bot(standin) as bot:
        stored = standin.state.add_file("documents", "bin", b"", len(data))
        stored.file_path = str(local)
        chunks = [c async for c in TelegramFiles(bot, max_bytes=MB).stream(_document(
            stored.file_id))]
        assert b"".join(chunks) == data
        assert max(len(c) for c in chunks) <= CHUNK
        assert standin.downloads == []  # nothing went over HTTP
        stored.file_path = str(tmp_path / "elsewhere" / "file_8.bin")  # the server's own disk
        with pytest.raises(AttachmentUnavailable) as raised:
            async for _chunk in TelegramFiles(bot, max_bytes=MB).stream(
                    _document(stored.file_id)):
                pass
    assert raised.value.reason == "local_file_missing"


async def test_an_injected_client_is_used_and_left_open(tmp_path: Path) -> None:
    """A shared httpx client may be passed in; streaming does not close it."""
    data = os.urandom(70_000)
    async with BotApiStandIn(TOKEN) as standin, _bot(standin) as bot, \
            httpx.AsyncClient() as client:
        stored = standin.state.add_file("documents", "bin", data, len(data))
        files = TelegramFiles(bot, max_bytes=MB, client=client)
        for _ in range(2):
            assert b"".join([c async for c in files.stream(_document(stored.file_id))]) == data
        assert not client.is_closed


async def test_passing_failures_of_getfile_and_the_download_are_tried_again(
    tmp_path: Path,
) -> None:
    """With half of all getFile calls and file downloads answered 502 or dropped, every file
    still arrives whole: both are tried again, as every other Bot API call is."""
    files = {f"doc-{n}": os.urandom(200_000 + n) for n in range(6)}
    faults = Faults(bad_gateway_rate=0.3, drop_before_rate=0.2, methods={"getFile", DOWNLOAD},
                    seed=20261129)
    async with BotApiStandIn(TOKEN, faults=faults) as standin, _bot(standin) as bot:
        stored = {name: standin.state.add_file("documents", "bin", data, len(data))
                  for name, data in files.items()}
        sender = BotApiSender(max_backoff_seconds=0.2)
        telegram = TelegramFiles(bot, max_bytes=20 * MB, sender=sender)
        for name, data in files.items():
            chunks = [c async for c in telegram.stream(_document(stored[name].file_id))]
            assert b"".join(chunks) == data
        assert standin.faults_injected(method="getFile") >= 2
        assert standin.faults_injected(method=DOWNLOAD) >= 2
