"""Send's answer through the real python-telegram-bot stack: a report sealed at once is answered
by its receipt alone; one whose files are slow to come from Telegram gets "Sending…" first."""

from __future__ import annotations

from pathlib import Path

from review.queue import list_reports
from standin import BotApiStandIn
from standin.client import FakeUser
from tests.bot.harness import (
    RECEIPT_CODE,
    button,
    finish_and_send,
    press,
    replies,
    running_harness,
    to_evidence,
)


def _said(standin: BotApiStandIn, user: FakeUser, words: str) -> int:
    return sum(1 for call in standin.calls_to("sendMessage")
               if call.params.get("chat_id") == user.chat_id
               and words in str(call.params.get("text", "")))


async def _to_summary_with_a_file(user: FakeUser) -> None:
    await to_evidence(user)
    await user.send_document(b"notes from the street\n", file_name="notes.txt",
                             mime_type="text/plain")
    await replies(user)
    await press(user, "Done")
    await press(user, "Skip")  # safety
    await press(user, "Skip")  # contact: the summary


async def test_a_report_sealed_at_once_is_answered_by_its_receipt_alone(
    database_url: str, tmp_path: Path
) -> None:
    """With a file fetched from Telegram at once, Send is answered by one message, the receipt;
    "Sending…" is never sent."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(5560001)
        await to_evidence(witness)
        await witness.send_document(b"a list\n", file_name="list.txt", mime_type="text/plain")
        await replies(witness)
        (receipt,) = await finish_and_send(witness, evidence_sent=True)
        assert RECEIPT_CODE.search(receipt), receipt
        assert _said(h.standin, witness, "Sending") == 0
        assert len(await list_reports(h.storage)) == 1


async def test_a_report_whose_file_is_slow_is_announced_once_then_received(
    database_url: str, tmp_path: Path
) -> None:
    """Telegram takes 3 s to hand the file over: "Sending…" comes first (before the file has
    arrived), then the receipt; each once, one report stored."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(5560002)
        await _to_summary_with_a_file(witness)
        h.standin.download_delay = lambda _stored: 3.0
        downloads = len(h.standin.state.downloads)
        await witness.press(button(witness, "Send"))
        (announced,) = await replies(witness)
        assert announced == "Sending…"
        assert len(h.standin.state.downloads) == downloads  # said while the file was coming
        (receipt,) = await replies(witness, timeout=30)
        assert RECEIPT_CODE.search(receipt), receipt
        assert _said(h.standin, witness, "Sending") == 1
        assert len(await list_reports(h.storage)) == 1
