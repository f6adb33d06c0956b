"""Whole conversations through the real python-telegram-bot stack and the Bot API stand-in."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import struct
import subprocess
from pathlib import Path

from sqlalchemy import select

import crypto
from crypto.custody import custody_public_key
from review.queue import list_reports, open_report, pull
from storage.models import Base
from tests.bot.harness import (
    TOKEN,
    Harness,
    button,
    finish_and_send,
    press,
    replies,
    running_harness,
    to_evidence,
)
from tests.support import skip_or_fail


def _canary(label: str) -> str:
    return f"CANARY{label}{secrets.token_hex(6)}"


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _needles(canaries: dict[str, str], user_id: int) -> dict[str, bytes]:
    needles = {name: value.encode() for name, value in canaries.items()}
    needles["user_id"] = str(user_id).encode()
    needles["user_id_be64"] = struct.pack(">q", user_id)
    needles["user_id_le64"] = struct.pack("<q", user_id)
    needles["token"] = TOKEN.encode()
    needles["token_secret_part"] = TOKEN.split(":", 1)[1].encode()
    return needles


async def _all_rows(h: Harness) -> bytes:
    dump = bytearray()
    async with h.storage.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in (await connection.execute(select(table))).all():
                for value in row:
                    dump += value if isinstance(value, bytes) else str(value).encode()
                    dump += b"\x00"
    return bytes(dump)


async def _report_with_canaries(h: Harness, canaries: dict[str, str], user_id: int) -> list[str]:
    witness = h.user(
        user_id,
        canaries["first_name"],
        username=canaries["username"],
        last_name=canaries["last_name"],
        language_code="en",
    )
    await witness.send_command("start")
    await replies(witness)
    await press(witness, "Yes, continue")
    await press(witness, "Violence against people")
    await witness.send_text(f"What I saw: {canaries['answer']} — with ünïcödé ✓ and RTL עברית")
    await replies(witness)
    await witness.send_text("31.05.2024")
    await replies(witness)
    await witness.send_text(f"Near {canaries['place']}")
    await replies(witness)
    await press(witness, "Other people")
    await press(witness, "Done")
    await witness.send_text(f"Men with {canaries['perpetrators']}")
    await replies(witness)
    await witness.send_document(
        f"file body {canaries['file_body']}".encode(),
        file_name=f"{canaries['file_name']}.pdf",
        mime_type="application/pdf",
        caption=canaries["caption"],
    )
    await replies(witness)
    await witness.send_photo(b"\xff\xd8\xff" + canaries["photo_body"].encode() + b"\xff\xd9")
    await replies(witness)
    await press(witness, "Done")
    await press(witness, "Yes")
    summary = await press(witness, "Yes")
    assert canaries["answer"] in summary[0]
    await witness.press(button(witness, "Send"))
    sending, received = await replies(witness, 2)
    assert sending.startswith("Sending")
    return [sending, received]


async def test_canaries_never_at_rest_nor_in_logs(database_url: str, tmp_path: Path) -> None:
    """Unique strings sent by a witness reach the reviewer and appear nowhere at rest or in logs.

    Canaries go into the answers, the Telegram first name, last name, username, user id, a file
    name, a caption and file contents. Afterwards every byte under the data directory (database,
    WAL, blobs, keys) and every captured log line (at DEBUG, httpx included) is searched.
    """
    names = ["first_name", "last_name", "username", "answer", "place", "file_name",
             "file_body", "caption", "photo_body", "perpetrators"]
    canaries = {name: _canary(name.replace("_", "")) for name in names}
    canaries["username"] = canaries["username"].lower()
    user_id = 7_000_000_000 + secrets.randbelow(999_999_999)
    data_dir = tmp_path / "data"
    async with running_harness(database_url, data_dir) as h:
        received = (await _report_with_canaries(h, canaries, user_id))[1]
        assert "Received" in received and "receipt code" in received
        lines = list(h.logs.lines)
        assert lines, "logs were captured"
        summaries = await list_reports(h.storage)
        assert len(summaries) == 1 and summaries[0].item_count == 3
        report = await open_report(
            h.storage, summaries[0].report_id, [h.reviewer], custody_public_key(h.keys.custody_key)
        )
        # While the bot still runs, so SQLite's write-ahead log is there to be searched too.
        while_running = {p: p.read_bytes() for p in _files_under(data_dir)}
        # Every row of every table, which is where PostgreSQL keeps them (outside data_dir).
        while_running[data_dir / "all-rows"] = await _all_rows(h)
    after_stop = {p: p.read_bytes() for p in _files_under(data_dir)}
    if database_url.startswith("sqlite"):
        assert any(p.name.endswith("-wal") for p in while_running)
    needles = _needles(canaries, user_id)
    for snapshot in (while_running, after_stop):
        for path, content in snapshot.items():
            for name, needle in needles.items():
                assert needle not in content, f"{name} at rest in {path.relative_to(data_dir)}"
    for line in lines:
        for name, needle in needles.items():
            assert needle.decode("latin-1") not in line, f"{name} found in a log line: {line!r}"

    # The reviewer sees everything the witness meant to send; Telegram identities are not kept.
    text = report.document
    flat = str(text)
    for name in ("answer", "place", "file_name", "caption", "perpetrators"):
        assert canaries[name] in flat, name
    for name in ("first_name", "last_name", "username"):
        assert canaries[name] not in flat, f"{name} must not be sealed into the report either"
    assert "ünïcödé ✓ and RTL עברית" in flat
    bodies = b"".join(a.data for a in report.attachments)
    assert canaries["file_body"].encode() in bodies and canaries["photo_body"].encode() in bodies
    assert all(a.intact for a in report.attachments)
    assert report.custody_valid


async def test_token_never_logged_even_by_httpx(database_url: str, tmp_path: Path) -> None:
    """httpx logs request URLs that contain the token; the formatter redacts it at DEBUG level."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(5550001)
        await witness.send_command("start")
        await replies(witness)
        lines = list(h.logs.lines)
    assert any("httpx" in line or "HTTP" in line for line in lines) or lines
    assert not any(TOKEN in line or TOKEN.split(":")[1] in line for line in lines)


async def test_unexpected_input_is_answered_kindly(database_url: str, tmp_path: Path) -> None:
    """Stickers, text at a choice step, stale and forged buttons: kind re-prompts, nothing lost."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(5550002)
        await witness.send_command("start")
        await replies(witness)
        stale = button(witness, "Yes, continue")
        await press(witness, "Yes, continue")
        await witness.send_sticker()
        sorry, again = await replies(witness, 2)
        assert "cannot use that kind of message" in sorry and "What kind of incident" in again
        await witness.send_text("just typing")
        assert "choose one of the buttons" in (await replies(witness, 2))[0]
        await witness.press(stale, force=True)
        assert "earlier question" in (await replies(witness, 2))[0]
        await witness.press("forged.0", force=True)
        assert "earlier question" in (await replies(witness, 2))[0]
        await press(witness, "Violence against people")
        await witness.send_text("x" * 4000)
        assert "4000 characters" in (await replies(witness))[0]
        await witness.send_text("short and fine")
        assert "When did it happen" in (await replies(witness))[0]
        # Every callback query got an answer, so no button kept spinning.
        queries = [c for c in h.standin.calls_to("answerCallbackQuery")]
        assert len(queries) == 4
        assert all(m.protect_content for m in witness.bot_messages())


async def test_file_over_download_limit_is_refused_kindly(
    database_url: str, tmp_path: Path
) -> None:
    """A 21 MB document is refused with a clear message; the draft keeps everything else."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(5550003)
        await to_evidence(witness)
        await witness.send_big_document(21 * 1024 * 1024, file_name="big.mp4",
                                        mime_type="video/mp4")
        refusal = (await replies(witness))[0]
        assert "21 MB" in refusal and "20 MB" in refusal and "Everything else" in refusal
        assert not h.standin.calls_to("getFile")


async def test_redelivered_submit_creates_one_report(database_url: str, tmp_path: Path) -> None:
    """The same Send update delivered twice (as after a crash) stores exactly one report."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(5550004)
        await to_evidence(witness)
        await finish_and_send(witness, evidence_sent=False)
        h.standin.redeliver_last_update(witness.chat_id, keep_update_id=True)
        again = (await replies(witness))[0]
        assert "already received" in again
        assert len(await list_reports(h.storage)) == 1


async def test_two_witnesses_at_once(database_url: str, tmp_path: Path) -> None:
    """Two witnesses reporting at the same time each get their own report and receipt."""
    async with running_harness(database_url, tmp_path / "data") as h:

        async def report(user_id: int, words: str) -> str:
            witness = h.user(user_id)
            await to_evidence(witness, what=words)
            return (await finish_and_send(witness, evidence_sent=False))[1]

        first, second = await asyncio.gather(report(6001, "first"), report(6002, "second"))
        assert "receipt code" in first and "receipt code" in second
        opened = [
            await open_report(h.storage, s.report_id, [h.reviewer])
            for s in await list_reports(h.storage)
        ]
        texts = sorted(a["text"] for o in opened for a in o.document["answers"]
                       if a["question"] == "what")
        assert texts == ["first", "second"]


async def test_pulled_files_open_with_stock_age(database_url: str, tmp_path: Path) -> None:
    """`review pull` writes files that Debian's age CLI decrypts with the reviewer's key."""
    if shutil.which("age") is None:
        skip_or_fail("Debian's age CLI not installed (apt-get install age)")
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(5550005)
        await to_evidence(witness, what="pulled report")
        await witness.send_document(b"evidence bytes", file_name="e.txt", mime_type="text/plain")
        await replies(witness)
        await finish_and_send(witness, evidence_sent=True)
        written, unchanged = await pull(h.storage, tmp_path / "pulled")
        assert (written, unchanged) == (4, 0)
        assert await pull(h.storage, tmp_path / "pulled") == (0, 4)
    key = tmp_path / "key.txt"
    key.write_text(f"{h.reviewer}\n")
    [folder] = list((tmp_path / "pulled").iterdir())
    answers = subprocess.run(["age", "-d", "-i", str(key), str(folder / "00-answers.age")],
                             check=True, capture_output=True).stdout
    assert b"pulled report" in answers
    evidence = subprocess.run(["age", "-d", "-i", str(key), str(folder / "01-attachment.age")],
                              check=True, capture_output=True).stdout
    assert evidence == b"evidence bytes"
    other = crypto.generate_identity()
    key.write_text(f"{other}\n")
    refused = subprocess.run(["age", "-d", "-i", str(key), str(folder / "00-answers.age")],
                             capture_output=True)
    assert refused.returncode != 0
