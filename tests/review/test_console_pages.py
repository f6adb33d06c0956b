"""The console's pages over HTTP: attachments, the queue's filters, triage, follow-up, evidence."""

# Test functions take the fixtures imported from test_console.py as arguments by name.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt
import io
import json

import aiohttp
import pytest
from sqlalchemy import update

import crypto
from bot.core import MediaRef
from bot.followup import FollowUpService
from crypto.receipts import receipt_keys
from storage.models import ItemRow, ReportRow
from tests.review.sealed_reports import sealed_report

# The fixtures of test_console.py, shared by importing them.
from tests.review.test_console import (  # noqa: F401
    Desk,
    browser_less,
    desk,
    enter,
    png_bytes,
)


async def _items_by_name(desk: Desk, report_id: str) -> dict[str | None, int]:
    """Each attachment's item number, by the file name sealed in the answers."""
    report = await desk.backend.get_report(report_id)
    payload = await desk.backend.read_payload(report_id, 0)
    document = json.loads(crypto.open_bytes(report.items[0].header, payload, [desk.alice]))
    return {facts["file_name"]: facts["item"] for facts in document["attachments"]}


async def test_images_are_inline_and_other_files_download(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    """Type from the sealed facts: PNG and voice inline, SVG and PDF only as downloads."""
    png = png_bytes()
    files = (
        (MediaRef("document", "a", len(png), "scene.png", "image/png"), png),
        (MediaRef("document", "b", 30, "drawing.svg", "image/svg+xml"), b"<svg onload='x'/>"),
        (MediaRef("voice", "c", 10, None, None), b"OggS-voice"),
        (MediaRef("document", "d", 9, "ünï doc.pdf", "application/pdf"), b"%PDF-1.4\n"),
    )
    receipt = await desk.submit("with files", files)
    seqs = await _items_by_name(desk, receipt.report_id)
    await enter(browser_less, desk)
    base = f"{desk.origin}/reports/{receipt.report_id}/items"
    expected = {
        "scene.png": ("image/png", "inline;", png),
        "drawing.svg": ("image/svg+xml", "attachment;", files[1][1]),
        None: ("audio/ogg", "inline;", files[2][1]),
        "ünï doc.pdf": ("application/pdf", "attachment;", files[3][1]),
    }
    for name, (content_type, disposition, body) in expected.items():
        async with browser_less.get(f"{base}/{seqs[name]}") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == content_type, name
            assert response.headers["Content-Disposition"].startswith(disposition), name
            assert await response.read() == body
    async with browser_less.get(f"{base}/{seqs['scene.png']}?download=1") as response:
        assert response.headers["Content-Disposition"].startswith("attachment;")
    async with browser_less.get(f"{base}/{seqs['ünï doc.pdf']}") as response:
        assert "filename*=UTF-8''%C3%BCn%C3%AF%20doc.pdf" in response.headers["Content-Disposition"]
    # The bot's metadata-stripped working copy of the PNG is offered too, as a PNG.
    report = await desk.backend.get_report(receipt.report_id)
    (copy,) = [i for i in report.items if i.parent_seq == seqs["scene.png"]]
    async with browser_less.get(f"{base}/{copy.seq}?download=1") as response:
        assert response.headers["Content-Type"] == "image/png"
        assert (await response.read()).startswith(b"\x89PNG")
    async with browser_less.get(f"{base}/0") as response:
        assert response.status == 404, "the answers item is not offered as a file"
    async with browser_less.get(f"{desk.origin}/reports/{receipt.report_id}") as response:
        html = await response.text()
    assert "Every file matches its recorded hash" in html and "Custody signature: valid" in html
    assert "Download copy without metadata" in html


async def test_the_queue_filters_on_every_field(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    """Status, priority, assignee, label and received day each narrow the queue."""
    first = (await desk.submit("first report text")).report_id
    second = (await desk.submit("second report text")).report_id
    await desk.backend.set_status(second, "closed")
    await desk.backend.set_priority(second, "urgent")
    await desk.backend.assign(second, "bob")
    await desk.backend.add_label(second, "verified")
    await enter(browser_less, desk)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    for query in ("status=closed", "priority=urgent", "assignee=bob", "label=verified",
                  f"day={today}&status=closed"):
        async with browser_less.get(f"{desk.origin}/?{query}") as response:
            html = await response.text()
        assert second[:8] in html and first[:8] not in html, query
    async with browser_less.get(f"{desk.origin}/?day=2001-01-01") as response:
        assert "No reports match" in await response.text()
    async with browser_less.get(f"{desk.origin}/?label=Not%20A%20Label!") as response:
        html = await response.text()
    assert "labels are 1-48 lowercase" in html and first[:8] in html


async def test_a_follow_up_question_is_sealed_to_the_witness_and_the_reviewers(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    """The question is sealed in the console to the witness's key and the reviewers' keys.

    The witness's key is derived from the receipt code, as /status derives it; the reviewers
    can read back what they asked, and nobody else can.
    """
    receipt = await desk.submit("a report the witness will check on")
    witness = receipt_keys(receipt.code, desk.keys.hash_key).witness
    without = await sealed_report(desk.storage, desk.keys.custody_key, [desk.alice.recipient])
    await enter(browser_less, desk)
    question = "Could you tell us the time it started? עברית"
    token = desk.console.session.csrf_token
    async with browser_less.post(f"{desk.origin}/reports/{receipt.report_id}/witness",
                                 data={"text": question, "csrf": token}) as response:
        assert "Question sealed" in await response.text()
    (message,) = await desk.storage.triage.witness_messages(receipt.report_id)
    out = io.BytesIO()
    crypto.decrypt(io.BytesIO(message.sealed), out, [witness])
    assert out.getvalue().decode() == question
    out = io.BytesIO()
    crypto.decrypt(io.BytesIO(message.sealed), out, [desk.alice])
    assert out.getvalue().decode() == question
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(io.BytesIO(message.sealed), io.BytesIO(), [crypto.generate_identity()])
    # A report stored before witness keys existed: no form, and a forged POST changes nothing.
    async with browser_less.get(f"{desk.origin}/reports/{without}") as response:
        assert "has no witness key" in await response.text()
    async with browser_less.post(f"{desk.origin}/reports/{without}/witness",
                                 data={"text": question, "csrf": token}) as response:
        assert response.status == 400
    assert await desk.storage.triage.witness_messages(without) == []


async def test_every_triage_action_is_stored_and_audited_as_the_reviewer(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    """Priority, claim, assign, labels: each POST persists, and the trail names alice."""
    report_id = (await desk.submit("triage me")).report_id
    await enter(browser_less, desk)
    page = f"{desk.origin}/reports/{report_id}"
    token = desk.console.session.csrf_token
    steps = [
        ("/priority", {"priority": "urgent"}, "done=priority"),
        ("/assign", {"assignee": "alice"}, "done=assign"),
        ("/labels/add", {"label": "Needs-Translation"}, "done=label-add"),
        ("/labels/add", {"label": "verified"}, "done=label-add"),
        ("/labels/remove", {"label": "verified"}, "done=label-remove"),
    ]
    for path, data, done in steps:
        async with browser_less.post(page + path, data={**data, "csrf": token},
                                     allow_redirects=False) as response:
            assert response.status == 303 and done in response.headers["Location"], path
    summary = (await desk.backend.get_report(report_id)).summary
    assert (summary.priority, summary.assignee, summary.labels) == (
        "urgent", "alice", ("needs-translation",)
    )
    async with browser_less.post(page + "/assign", data={"assignee": "bob", "csrf": token}):
        pass
    async with browser_less.post(page + "/labels/add", data={"label": "a/b", "csrf": token}) as r:
        assert r.status == 400 and "labels are 1-48" in await r.text()
    async with browser_less.post(page + "/notes", data={"text": "  ", "csrf": token}) as r:
        assert r.status == 400 and "The note is empty" in await r.text()
    summary = (await desk.backend.get_report(report_id)).summary
    assert summary.assignee == "bob" and summary.labels == ("needs-translation",)
    assert await desk.backend.notes(report_id) == []
    entries = [json.loads(row.entry) for row in await desk.storage.audit.entries()]
    mine = [(e["actor"], e["action"]) for e in entries if e["report_id"] == report_id
            and not e["action"].startswith("access.")]
    # Showing the report decrypted it: that is in the chain of custody, as alice, via the console.
    opened = [e for e in entries if e["report_id"] == report_id and e["action"] == "access.opened"]
    assert opened and {(e["actor"], e["details"]["via"]) for e in opened} == {("alice", "console")}
    assert mine == [
        ("alice", "report.priority"), ("alice", "report.assign"), ("alice", "report.label_add"),
        ("alice", "report.label_add"), ("alice", "report.label_remove"),
        ("alice", "report.assign"),
    ]


async def test_altered_evidence_is_flagged_on_the_report_page(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    """A changed custody manifest or a payload hash that disagrees is shown, loudly."""
    png = png_bytes()
    photo = MediaRef("document", "p", len(png), "scene.png", "image/png")
    report_id = (await desk.submit("evidence", ((photo, png),))).report_id
    report = await desk.backend.get_report(report_id)
    manifest = report.manifest.replace(b'"seq":1', b'"seq":1 ', 1)
    async with desk.storage.engine.begin() as connection:
        await connection.execute(
            update(ReportRow).where(ReportRow.id == report_id).values(manifest=manifest)
        )
        await connection.execute(
            update(ItemRow).where(ItemRow.report_id == report_id, ItemRow.seq == 1)
            .values(payload_sha256="0" * 64)
        )
    await enter(browser_less, desk)
    async with browser_less.get(f"{desk.origin}/reports/{report_id}") as response:
        html = await response.text()
    assert "Custody signature: invalid" in html
    assert "treat this report as altered" in html and "HASH DOES NOT MATCH" in html


async def test_a_page_number_that_is_not_one_gets_a_kind_400(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    """A superscript digit or a 23-digit page is a calm 400 page, never a Python message."""
    await desk.submit("a report")
    await enter(browser_less, desk)
    for page in ("²", "99999999999999999999999", "-1", "0", "1.5", "abc"):
        async with browser_less.get(f"{desk.origin}/", params={"page": page}) as response:
            html = await response.text()
        assert response.status == 400, (page, response.status)
        assert "No such page of the queue" in html and 'href="/"' in html, page
        for leak in ("invalid literal", "Traceback", "OverflowError", "int too big"):
            assert leak not in html, page
    async with browser_less.get(f"{desk.origin}/", params={"page": "1"}) as response:
        assert response.status == 200


async def test_the_reviewers_question_is_shown_above_the_witness_reply(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    """Questions and the witness's later additions read as one conversation, question first.

    A question sealed only to the witness (before questions were also sealed to reviewers) is
    still shown as having been asked.
    """
    receipt = await desk.submit("first account")
    report_id = receipt.report_id
    report = await desk.backend.get_report(report_id)
    assert report.witness_recipient is not None
    old_style = b"".join(crypto.seal_bytes(
        b"an early question", [crypto.parse_recipient(report.witness_recipient)]
    ))
    await desk.backend.leave_witness_message(report_id, old_style)
    await enter(browser_less, desk)
    token = desk.console.session.csrf_token
    async with browser_less.post(f"{desk.origin}/reports/{report_id}/witness",
                                 data={"text": "Which street was it?", "csrf": token}):
        pass
    await FollowUpService(desk.storage, desk.keys).add(
        report_id, ["It was Market Street."], [], _no_files, submission_key=b"k" * 32
    )
    async with browser_less.get(f"{desk.origin}/reports/{report_id}") as response:
        html = await response.text()
    follow_up = html[html.index('id="follow-up"'):html.index('id="note"')]
    asked = follow_up.index("Which street was it?")
    sealed_only = follow_up.index("sealed to the witness's key only")
    replied = follow_up.index("It was Market Street.")
    assert sealed_only < replied and asked < replied
    assert "Question from the reviewers" in follow_up and "The witness added" in follow_up


async def _no_files(_ref: MediaRef) -> bytes:
    raise AssertionError("no files in this reply")
