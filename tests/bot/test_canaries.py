"""The canary test: unique strings a witness sends (text, names, ids, file names, EXIF and
document metadata, media bodies, a location, a follow-up) reach the reviewer and appear in no
byte at rest and no log line."""

from __future__ import annotations

import io
import json
import secrets
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

from PIL import Image
from sqlalchemy import select, text

import crypto
from crypto.custody import custody_public_key
from review.queue import list_reports, open_report
from storage import ItemRole
from storage.models import Base
from tests.bot.harness import (
    TOKEN,
    Harness,
    button,
    press,
    receipt_code,
    replies,
    running_harness,
    start_addition,
)

NAMES = (
    "first_name", "last_name", "username", "answer", "perpetrators", "caption", "doc_name",
    "pdf_author", "exif", "jpeg_name", "photo_body", "video_name", "video_body", "voice_body",
    "audio_name", "audio_body", "followup_text", "followup_body", "followup_name",
)


def _canaries() -> dict[str, str]:
    values = {name: f"CANARY{name.replace('_', '')}{secrets.token_hex(5)}" for name in NAMES}
    values["username"] = values["username"].lower()
    return values


def _jpeg_with_exif(make: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make  # Make
    exif[0x9286] = make  # UserComment
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def _pdf_with_author(author: str) -> bytes:
    return (b"%PDF-1.4\n1 0 obj << /Author (" + author.encode() + b") >> endobj\n"
            b"trailer << /Info 1 0 R >>\n%%EOF\n")


def _files_under(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


async def _all_rows(h: Harness) -> bytes:
    dump = bytearray()
    async with h.storage.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in (await connection.execute(select(table))).all():
                for value in row:
                    dump += value if isinstance(value, bytes) else str(value).encode()
                    dump += b"\x00"
    return bytes(dump)


async def _witness_reports(
    h: Harness, c: dict[str, str], user_id: int, latitude: float,
    half_way: Callable[[], Awaitable[None]],
) -> str:
    witness = h.user(user_id, c["first_name"], username=c["username"], last_name=c["last_name"])
    await witness.send_command("start")
    await replies(witness)
    await press(witness, "Yes, continue")
    await press(witness, "Violence against people")
    await witness.send_text(f"What I saw: {c['answer']} — ünïcödé ✓ עברית")
    await replies(witness)
    await witness.send_text("31.05.2024")
    await replies(witness)
    await witness.send_location(latitude, 30.1234567)
    await replies(witness)
    await press(witness, "Exact")
    await press(witness, "Other people")
    await press(witness, "Done")
    await witness.send_text(f"Men with {c['perpetrators']}")
    await replies(witness)
    sends = [
        witness.send_document(_pdf_with_author(c["pdf_author"]), file_name=f"{c['doc_name']}.pdf",
                              mime_type="application/pdf", caption=c["caption"]),
        witness.send_document(_jpeg_with_exif(c["exif"]), file_name=f"{c['jpeg_name']}.jpg",
                              mime_type="image/jpeg"),
        witness.send_photo(b"\xff\xd8\xff" + c["photo_body"].encode() + b"\xff\xd9"),
        witness.send_video(c["video_body"].encode(), file_name=f"{c['video_name']}.mp4"),
        witness.send_voice(c["voice_body"].encode()),
        witness.send_audio(c["audio_body"].encode(), file_name=f"{c['audio_name']}.mp3"),
    ]
    for send in sends:
        await send
        await replies(witness)
    await press(witness, "Done")
    await press(witness, "Yes")
    await press(witness, "Yes")
    await half_way()  # everything answered, nothing sent: the draft and outbox are at rest
    await witness.press(button(witness, "Send"))
    (receipt,) = await replies(witness)
    code = receipt_code(receipt)
    await start_addition(witness, code)
    await witness.send_text(f"Also: {c['followup_text']}")
    await replies(witness)
    await witness.send_document(c["followup_body"].encode(), file_name=f"{c['followup_name']}.txt",
                                mime_type="text/plain")
    await replies(witness)
    await witness.press(button(witness, "Send"))
    assert "added to your report" in (await replies(witness))[0]
    return code


async def test_no_canary_at_rest_or_in_logs(database_url: str, tmp_path: Path) -> None:
    """Every canary reaches the reviewer sealed; none is in the data directory, the database
    rows (SQLite or PostgreSQL) or any log line; the bot token is in no log line either."""
    c = _canaries()
    user_id = 7_000_000_000 + secrets.randbelow(999_999_999)
    latitude = 48.7654321
    data_dir = tmp_path / "data"
    snapshots: list[dict[Path, bytes]] = []
    async with running_harness(database_url, data_dir) as h:

        async def half_way() -> None:
            async with h.storage.engine.connect() as connection:
                found = await connection.execute(text("SELECT count(*) FROM chat_states"))
                drafts = found.scalar()
            assert drafts == 1  # the sealed draft is on disk, to be searched
            files = _files_under(data_dir)
            files[data_dir / "all-rows-half-way"] = await _all_rows(h)
            snapshots.append(files)

        await _witness_reports(h, c, user_id, latitude, half_way)
        at_rest = _files_under(data_dir)
        at_rest[data_dir / "all-rows"] = await _all_rows(h)
        [row] = await list_reports(h.storage)
        stored = await h.storage.reports.get(row.report_id)
        opened = await open_report(h.storage, row.report_id, [h.reviewer],
                                   custody_public_key(h.keys.custody_key))
        assert stored is not None
        plain = {}
        for item in stored.items:
            with h.storage.blobs.open(item.item_id) as payload:
                plain[item.seq] = (item, crypto.open_bytes(item.header, payload.read(),
                                                           [h.reviewer]))
        log_lines = list(h.logs.lines)
    at_rest.update(_files_under(data_dir))
    [half_way_files] = snapshots
    for path, content in half_way_files.items():
        at_rest[path.with_name(path.name + " (half-way)")] = content
    if database_url.startswith("sqlite"):
        assert any(p.name.endswith("-wal") for p in at_rest)

    needles = {name: value.encode() for name, value in c.items()}
    needles |= {
        "user_id": str(user_id).encode(),
        "user_id_be64": struct.pack(">q", user_id),
        "user_id_le64": struct.pack("<q", user_id),
        "latitude": str(latitude).encode(),
        "token": TOKEN.encode(),
        "token_secret": TOKEN.split(":", 1)[1].encode(),
        "draft_key": h.draft_secret,
    }
    for path, content in at_rest.items():
        for name, needle in needles.items():
            assert needle not in content, f"{name} at rest in {path.relative_to(data_dir)}"
    assert log_lines
    for line in log_lines:
        for name, needle in needles.items():
            assert needle.decode("latin-1") not in line, f"{name} in a log line: {line!r}"
    # Sizes beside one report's or one chat's events would let a log reader match the chat
    # (so many messages cleared) to the report (so many items): issue 21.
    events = [line for line in log_lines if " intake." in line]
    assert any(" report.committed" in line for line in events)
    assert any(" chat.cleared" in line for line in events)
    for line in events:
        if any(f" {kind}." in line for kind in ("report", "chat", "followup", "message")):
            assert "items=" not in line and "count=" not in line, line

    # The reviewer sees what the witness meant to send; Telegram identities are kept nowhere.
    everything = b"\x00".join(data for _item, data in plain.values())
    for name in NAMES:
        if name in ("first_name", "last_name", "username"):
            assert c[name].encode() not in everything, f"{name} must not be sealed either"
        else:
            assert c[name].encode() in everything, f"the reviewer cannot see {name}"
    assert str(latitude).encode() in everything
    assert opened.custody_valid
    # The original image keeps its EXIF (evidence); its working copy has none, and is an image.
    exif_original = next(data for item, data in plain.values()
                         if item.role is ItemRole.ATTACHMENT and c["exif"].encode() in data)
    copies = [(item, data) for item, data in plain.values() if item.role is ItemRole.WORKING_COPY]
    assert len(copies) == 1
    copy_item, copy_data = copies[0]
    assert plain[copy_item.parent_seq][1] == exif_original  # type: ignore[index]
    assert c["exif"].encode() not in copy_data
    assert Image.open(io.BytesIO(copy_data)).size == (64, 48)
    addition = next(data for item, data in plain.values() if item.role is ItemRole.ADDITION)
    assert c["followup_text"] in json.loads(addition)["texts"][0]
