"""/status with the receipt code, the reviewers' message for the witness, and additions."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

import crypto
from crypto.custody import custody_public_key
from crypto.receipts import (
    RECEIPT_SCHEME_V2,
    legacy_receipt_hash,
    legacy_witness_identity,
    receipt_keys,
)
from review.queue import list_reports, open_report
from storage import ItemRole
from storage.models import ReportRow
from tests.bot.harness import (
    Harness,
    button,
    finish_and_send,
    press,
    receipt_code,
    replies,
    report_for_code,
    running_harness,
    start_addition,
    to_evidence,
)


async def test_status_question_and_answer(database_url: str, tmp_path: Path) -> None:
    """A wrong code is refused kindly; the right one shows status and the reviewers' question,
    and the witness's answer with a file is sealed into the same report for the reviewers."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7200001)
        code = await report_for_code(witness)
        [row] = await list_reports(h.storage)
        report = await h.storage.reports.get(row.report_id)
        assert report is not None and report.witness_recipient is not None
        await _question_for(
            h, row.report_id, report.witness_recipient, "When exactly did it start? — Коли саме?"
        )
        await h.storage.triage.set_status(row.report_id, "needs_info")

        await witness.send_command("status")
        assert "receipt code" in (await replies(witness))[0]
        await witness.send_text("1111-2222-3333-4444-5555")
        assert "No report matches" in (await replies(witness))[0]
        await witness.send_text("not a code at all")
        assert "20 digits" in (await replies(witness))[0]
        code_message = await witness.send_text(code.replace("-", " "))
        shown = (await replies(witness))[0]
        assert "question for you" in shown and "When exactly did it start? — Коли саме?" in shown
        assert code_message not in {m.message_id for m in witness.visible_messages()}

        await press(witness, "Add information or files")
        await witness.send_text("It started at 14:30.")
        await replies(witness)
        await witness.send_document(b"second file", file_name="later.txt", mime_type="text/plain")
        assert "Added 2 item(s)" in (await replies(witness))[0]
        await witness.press(button(witness, "Send"))
        assert "added to your report" in (await replies(witness))[0]

        opened = await open_report(h.storage, row.report_id, [h.reviewer],
                                   custody_public_key(h.keys.custody_key))
        stored = await h.storage.reports.get(row.report_id)
    assert opened.custody_valid
    assert stored is not None
    addition = next(i for i in stored.items if i.role is ItemRole.ADDITION)
    assert [a.data for a in opened.attachments] == [b"second file"]
    assert opened.attachments[0].seq == addition.seq + 1


async def test_status_addition_readable(database_url: str, tmp_path: Path) -> None:
    """The sealed addition document holds the witness's text, readable by the reviewer only."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7200002)
        assert "not reviewed yet" in await start_addition(witness, await report_for_code(witness))
        await witness.send_text("One more detail")
        await replies(witness)
        await witness.press(button(witness, "Send"))
        await replies(witness)
        [row] = await list_reports(h.storage)
        stored = await h.storage.reports.get(row.report_id)
        assert stored is not None
        addition = next(i for i in stored.items if i.role is ItemRole.ADDITION)
        with h.storage.blobs.open(addition.item_id) as payload:
            plain = crypto.open_bytes(addition.header, payload.read(), [h.reviewer])
    document = json.loads(plain)
    assert document["texts"] == ["One more detail"]


async def test_addition_redelivered_after_a_crash_is_stored_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The update that sends an addition fails to commit once after the addition was stored (as
    when the process dies between the two); its redelivery stores nothing twice, and the
    witness is told the addition arrived."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7200003)
        await start_addition(witness, await report_for_code(witness))
        await witness.send_text("One more detail")
        await replies(witness)
        [row] = await list_reports(h.storage)

        conversations = h.storage.conversations
        real_commit = conversations.commit_update
        failures: list[int] = []

        async def commit_that_dies_once(*args: Any, **kwargs: Any) -> Any:
            report = await h.storage.reports.get(row.report_id)
            assert report is not None
            if not failures and any(i.role is ItemRole.ADDITION for i in report.items):
                failures.append(1)
                raise ConnectionError("the process died here")
            return await real_commit(*args, **kwargs)

        monkeypatch.setattr(conversations, "commit_update", commit_that_dies_once)
        await witness.press(button(witness, "Send"))
        assert "added to your report" in (await replies(witness, timeout=30))[0]
        assert failures == [1]
        stored = await h.storage.reports.get(row.report_id)
        assert stored is not None
        assert [i.role for i in stored.items].count(ItemRole.ADDITION) == 1


async def test_witness_deletes_report_when_allowed(database_url: str, tmp_path: Path) -> None:
    """Where the organisation allows it, the code holder can crypto-shred the whole report;
    the shred is in the audit trail and no blob of the report is left."""
    async with running_harness(database_url, tmp_path / "data", witness_may_delete=True) as h:
        witness = h.user(7200003)
        await to_evidence(witness)
        await witness.send_photo(b"\xff\xd8\xffphoto\xff\xd9")
        await replies(witness)
        code = receipt_code((await finish_and_send(witness, evidence_sent=True))[0])
        assert h.storage.blobs.names()
        await witness.send_command("status", code)
        await replies(witness)
        await press(witness, "Delete this report")
        kept = await press(witness, "No, keep it")
        assert "Nothing was deleted" in kept[0]
        await press(witness, "Delete this report")
        assert (await press(witness, "Yes, delete it"))[0] == "Deleted."
        assert await list_reports(h.storage) == []
        assert h.storage.blobs.names() == []
        entries = [r.entry for r in await h.storage.audit.entries()]
        assert any(b"report.shred" in e and b"witness_request" in e for e in entries)
        await witness.send_command("status", code)
        assert "No report matches" in (await replies(witness))[0]


async def test_deleting_is_not_offered_by_default(database_url: str, tmp_path: Path) -> None:
    """Without the organisation's permission there is no delete button."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7200004)
        code = await report_for_code(witness)
        await witness.send_command("status", code)
        await replies(witness)
        labels = [label for m in witness.bot_messages() for row in m.buttons for label, _d in row]
        assert "Delete this report" not in labels


async def test_review_show_includes_additions(database_url: str, tmp_path: Path) -> None:
    """The reviewer's rendering shows the added text, and the added file as intact."""
    from review.render import render_report

    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7200005)
        await start_addition(witness, await report_for_code(witness))
        await witness.send_text("The van was grey.")
        await replies(witness)
        await witness.send_document(b"later", file_name="later.txt", mime_type="text/plain")
        await replies(witness)
        await witness.press(button(witness, "Send"))
        await replies(witness)
        [row] = await list_reports(h.storage)
        text = render_report(await open_report(h.storage, row.report_id, [h.reviewer]))
    assert "The van was grey." in text
    assert "later.txt" in text and "(intact)" in text and "HASH MISMATCH" not in text


async def test_old_button_before_the_code_is_refused(database_url: str, tmp_path: Path) -> None:
    """A button pressed before any code was accepted asks for the code; nothing gets stuck."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7200006)
        await witness.send_command("start")
        await replies(witness)
        stale = button(witness, "Yes, continue")
        await witness.send_command("status")
        await replies(witness)
        await witness.press(stale, force=True)
        assert "receipt code" in (await replies(witness))[0]
        await witness.send_command("cancel")
        assert "Nothing was added" in (await replies(witness))[0]


def _counting_scrypt(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count every scrypt run in the process from here on (the call still happens)."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counted(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    return calls


async def _question_for(h: Harness, report_id: str, recipient: str, text: str) -> None:
    sealed = io.BytesIO()
    crypto.encrypt(io.BytesIO(text.encode()), sealed, [crypto.parse_recipient(recipient)])
    summary = (await h.storage.reports.get(report_id))
    assert summary is not None
    await h.storage.triage.add_witness_message(
        report_id, secrets.token_hex(16), summary.summary.received_day, sealed.getvalue()
    )


async def test_new_codes_never_run_scrypt(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sending a report and every /status attempt, right or wrong, run no scrypt when no report
    with a code of the old scheme is stored; the right code still opens the witness's message."""
    async with running_harness(database_url, tmp_path / "data") as h:
        calls = _counting_scrypt(monkeypatch)
        witness = h.user(7200007)
        code = await report_for_code(witness)
        [row] = await list_reports(h.storage)
        report = await h.storage.reports.get(row.report_id)
        assert report is not None and report.witness_recipient is not None
        await _question_for(h, row.report_id, report.witness_recipient, "Which street?")
        await witness.send_command("status", "1111-2222-3333-4444-5555")
        assert "No report matches" in (await replies(witness))[0]
        await witness.send_command("status", code)
        assert "Which street?" in (await replies(witness))[0]
    assert calls == []


async def test_codes_from_earlier_versions_still_work(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report stored by an earlier version (scrypt lookup hash, scrypt witness key) is still
    found by its code and its question still opens; a wrong code is refused; a new-scheme
    report beside it is found without scrypt."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7200008)
        await to_evidence(witness)
        await finish_and_send(witness, evidence_sent=False)
        [row] = await list_reports(h.storage)
        # Turn the stored report into one an earlier version wrote, with a code we choose.
        old_code = "0042-4242-1234-5678-9012"
        old_identity = legacy_witness_identity(old_code, row.report_id, h.keys.hash_key)
        async with h.storage.engine.begin() as connection:
            await connection.execute(
                update(ReportRow)
                .where(ReportRow.id == row.report_id)
                .values(
                    receipt_hash=legacy_receipt_hash(old_code, h.keys.hash_key),
                    witness_recipient=str(old_identity.recipient),
                )
            )
        assert len(legacy_receipt_hash(old_code, h.keys.hash_key)) == 32
        await _question_for(h, row.report_id, str(old_identity.recipient), "Old question?")

        calls = _counting_scrypt(monkeypatch)
        await witness.send_command("status", "0042-4242-1234-5678-9013")
        assert "No report matches" in (await replies(witness))[0]
        assert len(calls) == 1  # a wrong code pays one scrypt while old reports are stored
        await witness.send_command("status", old_code.replace("-", ""))
        assert "Old question?" in (await replies(witness))[0]
        await witness.send_command("cancel")
        await replies(witness)

        other = h.user(7200009)
        new_code = await report_for_code(other)
        calls.clear()
        await other.send_command("status", new_code)
        assert "not reviewed yet" in (await replies(other))[0]
        assert calls == []


def test_receipt_keys_are_keyed_and_marked() -> None:
    """The lookup hash carries the scheme marker, depends on code and key, and the witness
    identity derived with it is the same one every time."""
    key = bytes(32)
    first = receipt_keys("1234-5678-9012-3456-7890", key)
    assert first.lookup_hash[:1] == RECEIPT_SCHEME_V2 and len(first.lookup_hash) == 33
    assert first == receipt_keys("1234-5678-9012-3456-7890", key)
    assert receipt_keys("1234-5678-9012-3456-7891", key).lookup_hash != first.lookup_hash
    assert receipt_keys("1234-5678-9012-3456-7890", b"\x01" * 32) != first
    assert str(first.witness.recipient) != str(
        receipt_keys("1234-5678-9012-3456-7891", key).witness.recipient
    )
