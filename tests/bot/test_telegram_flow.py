"""Whole conversations through the real python-telegram-bot stack and the Bot API stand-in."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

import crypto
from review.queue import list_reports, open_report, pull
from tests.bot.harness import (
    TOKEN,
    button,
    finish_and_send,
    press,
    replies,
    running_harness,
    to_evidence,
)
from tests.support import skip_or_fail


async def test_token_never_logged_even_by_httpx(database_url: str, tmp_path: Path) -> None:
    """With every logger at DEBUG (httpx logs URLs holding the token), no line has the token."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(5550001)
        await witness.send_command("start")
        await replies(witness)
        lines = list(h.logs.lines)
    assert any("bot.started" in line for line in lines)
    assert not any(TOKEN in line or TOKEN.split(":")[1] in line for line in lines)


async def test_unexpected_input_is_answered_kindly(database_url: str, tmp_path: Path) -> None:
    """Stickers, text at a choice step, stale and forged buttons: kind re-prompts, nothing lost."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(5550002)
        await witness.send_command("start")
        await replies(witness)
        stale = button(witness, "Yes, continue")
        await press(witness, "Yes, continue")
        # Each reminder comes in one message with the question it is about, reminder first.
        await witness.send_sticker()
        [sorry] = await replies(witness)
        assert sorry.startswith("Sorry, I cannot use that kind of message")
        assert "What kind of incident" in sorry
        await witness.send_text("just typing")
        [again] = await replies(witness)
        assert "choose one of the buttons" in again and "What kind of incident" in again
        await witness.press(stale, force=True)
        assert "earlier question" in (await replies(witness))[0]
        await witness.press("forged.0", force=True)
        assert "earlier question" in (await replies(witness))[0]
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
    """The same Send update delivered twice (as after a crash) stores exactly one report and
    sends nothing more: its receipt was delivered the first time."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(5550004)
        await to_evidence(witness)
        await finish_and_send(witness, evidence_sent=False)
        h.standin.redeliver_last_update(witness.chat_id, keep_update_id=True)
        with pytest.raises(TimeoutError):
            await witness.next_bot_message(timeout=3)
        assert len(await list_reports(h.storage)) == 1


async def test_two_witnesses_at_once(database_url: str, tmp_path: Path) -> None:
    """Two witnesses reporting at the same time each get their own report and receipt."""
    async with running_harness(database_url, tmp_path / "data") as h:

        async def report(user_id: int, words: str) -> str:
            witness = h.user(user_id)
            await to_evidence(witness, what=words)
            return (await finish_and_send(witness, evidence_sent=False))[0]

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


async def test_back_edit_and_cancel_over_telegram(database_url: str, tmp_path: Path) -> None:
    """Back shows the earlier answer, Edit changes one from the summary, Cancel sends nothing."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(5550006)
        await to_evidence(witness, what="first version")
        back = await press(witness, "Back")
        assert "Who did it" in back[0]
        await press(witness, "Skip")
        await press(witness, "Skip")
        await press(witness, "Skip")
        await press(witness, "Skip")
        await press(witness, "Edit an answer")
        await press(witness, "What happened")
        await witness.send_text("second version")
        summary = (await replies(witness))[0]
        assert "second version" in summary and "first version" not in summary
        asked = await press(witness, "Cancel")
        assert "Delete this report?" in asked[0]
        cancelled = await press(witness, "Delete it")
        assert "Nothing was sent" in cancelled[0]
        assert await list_reports(h.storage) == []
