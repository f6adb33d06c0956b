"""/status with the receipt code, the reviewers' message for the witness, and additions."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import crypto
from crypto.custody import custody_public_key
from review.queue import list_reports, open_report
from storage import ItemRole
from tests.bot.harness import button, finish_and_send, press, replies, running_harness, to_evidence

_CODE = re.compile(r"\d{4}(?:-\d{4}){4}")


async def test_status_question_and_answer(database_url: str, tmp_path: Path) -> None:
    """A wrong code is refused kindly; the right one shows status and the reviewers' question,
    and the witness's answer with a file is sealed into the same report for the reviewers."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7200001)
        await to_evidence(witness)
        receipt = (await finish_and_send(witness, evidence_sent=False))[1]
        code = _CODE.search(receipt)
        assert code is not None
        [row] = await list_reports(h.storage)
        report = await h.storage.reports.get(row.report_id)
        assert report is not None and report.witness_recipient is not None
        question = io.BytesIO()
        crypto.encrypt(io.BytesIO("When exactly did it start? — Коли саме?".encode()), question,
                       [crypto.parse_recipient(report.witness_recipient)])
        await h.storage.triage.add_witness_message(
            row.report_id, "ab" * 16, row.received_day, question.getvalue()
        )
        await h.storage.triage.set_status(row.report_id, "needs_info")

        await witness.send_command("status")
        assert "receipt code" in (await replies(witness))[0]
        await witness.send_text("1111-2222-3333-4444-5555")
        assert "No report matches" in (await replies(witness))[0]
        await witness.send_text("not a code at all")
        assert "20 digits" in (await replies(witness))[0]
        code_message = await witness.send_text(code.group().replace("-", " "))
        shown = (await replies(witness))[0]
        assert "question for you" in shown and "When exactly did it start? — Коли саме?" in shown
        assert code_message not in {m.message_id for m in witness.visible_messages()}

        await press(witness, "Add information or files")
        await witness.send_text("It started at 14:30.")
        await replies(witness)
        await witness.send_document(b"second file", file_name="later.txt", mime_type="text/plain")
        assert "Added 2 item(s)" in (await replies(witness))[0]
        await witness.press(button(witness, "Send"))
        assert "added to your report" in (await replies(witness, 2))[1]

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
        await to_evidence(witness)
        code = _CODE.search((await finish_and_send(witness, evidence_sent=False))[1])
        assert code is not None
        await witness.send_command("status", code.group())
        assert "not reviewed yet" in (await replies(witness))[0]
        await press(witness, "Add information or files")
        await witness.send_text("One more detail")
        await replies(witness)
        await witness.press(button(witness, "Send"))
        await replies(witness, 2)
        [row] = await list_reports(h.storage)
        stored = await h.storage.reports.get(row.report_id)
        assert stored is not None
        addition = next(i for i in stored.items if i.role is ItemRole.ADDITION)
        with h.storage.blobs.open(addition.item_id) as payload:
            plain = crypto.open_bytes(addition.header, payload.read(), [h.reviewer])
    document = json.loads(plain)
    assert document["texts"] == ["One more detail"]


async def test_witness_deletes_report_when_allowed(database_url: str, tmp_path: Path) -> None:
    """Where the organisation allows it, the code holder can crypto-shred the whole report;
    the shred is in the audit trail and no blob of the report is left."""
    async with running_harness(database_url, tmp_path / "data", witness_may_delete=True) as h:
        witness = h.user(7200003)
        await to_evidence(witness)
        await witness.send_photo(b"\xff\xd8\xffphoto\xff\xd9")
        await replies(witness)
        code = _CODE.search((await finish_and_send(witness, evidence_sent=True))[1])
        assert code is not None and h.storage.blobs.names()
        await witness.send_command("status", code.group())
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
        await witness.send_command("status", code.group())
        assert "No report matches" in (await replies(witness))[0]


async def test_deleting_is_not_offered_by_default(database_url: str, tmp_path: Path) -> None:
    """Without the organisation's permission there is no delete button."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7200004)
        await to_evidence(witness)
        code = _CODE.search((await finish_and_send(witness, evidence_sent=False))[1])
        assert code is not None
        await witness.send_command("status", code.group())
        await replies(witness)
        labels = [label for m in witness.bot_messages() for row in m.buttons for label, _d in row]
        assert "Delete this report" not in labels


async def test_review_show_includes_additions(database_url: str, tmp_path: Path) -> None:
    """The reviewer's rendering shows the added text, and the added file as intact."""
    from review.render import render_report

    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7200005)
        await to_evidence(witness)
        code = _CODE.search((await finish_and_send(witness, evidence_sent=False))[1])
        assert code is not None
        await witness.send_command("status", code.group())
        await replies(witness)
        await press(witness, "Add information or files")
        await witness.send_text("The van was grey.")
        await replies(witness)
        await witness.send_document(b"later", file_name="later.txt", mime_type="text/plain")
        await replies(witness)
        await witness.press(button(witness, "Send"))
        await replies(witness, 2)
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
