"""Issue 22 item 5, timing a witness can trust, with real `intake serve` processes: "Sending…"
and the receipt both come through the outbox, a kill -9 between them loses neither and
doubles neither, and a Telegram that answers sendMessage 5-15 s late never makes the bot send
a receipt twice (the late answer is waited for instead of taken for a failure)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from bot.core import DEFAULT_QUESTIONNAIRE
from crypto.drafts import DraftKeyring
from review.queue import list_reports
from standin import BotApiStandIn
from standin.faults import DOWNLOAD, FaultKind, Faults
from standin.witness_script import WitnessScript
from standin.witnesses import run_witnesses
from storage import Storage
from tests.bot.harness import press, replies
from tests.e2e.serve_process import TOKEN, ServeProcesses, failure_report, prepare_store

pytestmark = pytest.mark.slow

SCRIPT = WitnessScript.from_toml(DEFAULT_QUESTIONNAIRE)
RECEIPT = re.compile(r"\d{4}(?:-\d{4}){4}")


def _sent(standin: BotApiStandIn, chat_id: int, pattern: str) -> int:
    """How many messages containing `pattern` Telegram (the stand-in) showed this chat."""
    return sum(
        1 for call in standin.calls_to("sendMessage")
        if call.params.get("chat_id") == chat_id and call.status == 200
        and re.search(pattern, str(call.params.get("text", "")))
    )


async def test_a_kill_between_sending_and_the_receipt(database_url: str, tmp_path: Path) -> None:
    """Send; "Sending…" reaches the witness; the server is killed while it fetches the file to
    seal it; after the restart the report is stored once and the witness has one "Sending…"
    and one receipt."""
    data_dir = tmp_path / "data"
    draft_key = tmp_path / "draft.key"
    DraftKeyring.generate_file(draft_key)
    await prepare_store(database_url, data_dir)
    async with BotApiStandIn(TOKEN) as standin:
        serve = ServeProcesses(data_dir, database_url, standin.root_url, draft_key)
        process = await serve.start()
        witness = standin.user(722_001, "Witness", language_code="en")
        await witness.send_command("start")
        await replies(witness, timeout=30)
        for label in ("Yes, continue", "Something else"):
            await press(witness, label)
        await witness.send_text("It happened at the gate.")
        await replies(witness)
        await press(witness, "Today")
        await witness.send_text("The gate")
        await replies(witness)
        for label in ("Me", "Done", "Skip"):
            await press(witness, label)
        await witness.send_document(b"notes from the gate\n", file_name="notes.txt",
                                    mime_type="text/plain")
        await replies(witness)
        for label in ("Done", "Skip"):
            await press(witness, label)
        await press(witness, "Skip")  # contact: skip -> the summary
        # Sealing fetches the file from Telegram: make that hang, so the kill lands between.
        standin.faults = Faults(slow_rate=1.0, methods={DOWNLOAD}, slow_seconds=(60.0, 60.0))
        await press(witness, "Send")
        for _tick in range(200):
            if _sent(standin, witness.chat_id, "Sending"):
                break
            await asyncio.sleep(0.1)
        assert _sent(standin, witness.chat_id, "Sending") == 1
        await asyncio.sleep(2.0)  # the bot has recorded the delivery; the download still hangs
        await serve.kill(process)
        standin.faults = None
        await serve.start()
        for _tick in range(600):
            if _sent(standin, witness.chat_id, RECEIPT.pattern):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(3.0)  # time for anything doubled to show
        await serve.stop_all()
        timeline = failure_report(serve, standin, [])
    assert _sent(standin, witness.chat_id, RECEIPT.pattern) == 1, timeline
    assert _sent(standin, witness.chat_id, "Sending") == 1, timeline
    storage = await Storage.open(database_url, data_dir / "blobs")
    try:
        assert len(await list_reports(storage)) == 1
    finally:
        await storage.close()


async def test_late_answers_never_double_a_receipt(database_url: str, tmp_path: Path) -> None:
    """A third of sendMessage calls answered 5-15 s late (the message shown at once): every
    witness finishes and sees exactly one receipt; the late answers really happened. With
    python-telegram-bot's default 5 s read timeout, receipts were sent twice."""
    data_dir = tmp_path / "data"
    draft_key = tmp_path / "draft.key"
    DraftKeyring.generate_file(draft_key)
    await prepare_store(database_url, data_dir)
    witnesses = 8
    # Telegram's late answers: the message is on the phone at once, the answer comes late.
    faults = Faults(late_answer_rate=0.33, slow_seconds=(5.0, 15.0), methods={"sendMessage"},
                    seed=20261206)
    async with BotApiStandIn(TOKEN, faults=faults) as standin:
        serve = ServeProcesses(data_dir, database_url, standin.root_url, draft_key)
        await serve.start()
        records = await run_witnesses(standin, witnesses, script=SCRIPT, seed=7,
                                      pause=(0.2, 0.5), patience=120.0)
        await asyncio.sleep(3.0)  # time for a doubled receipt to show
        late = standin.faults_injected(FaultKind.LATE_ANSWER)
        await serve.stop_all()
        report = failure_report(serve, standin, records)
    for record in records:
        assert record.stalled is None and record.receipt_code is not None, report
        assert _sent(standin, record.user_id, RECEIPT.pattern) == 1, (record.user_id, report)
    assert late > witnesses
