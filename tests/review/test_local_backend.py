"""LocalBackend and the triage and credential repositories, on real SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import secrets

import pytest
from sqlalchemy import text

import crypto
from review.audit import AuditTrail
from review.backend import QueueFilter
from review.local import InvalidRequestError, LocalBackend, NotFoundError
from storage import Role, Storage
from storage.credentials import CredentialExistsError, UnknownCredentialError, token_hash
from storage.triage import validate_label
from tests.review.sealed_reports import DAY, sealed_report

CUSTODY = secrets.token_bytes(32)


def _backend(storage: Storage, actor: str = "alice") -> LocalBackend:
    return LocalBackend(storage, AuditTrail(storage.audit, CUSTODY), actor, custody_key=CUSTODY)


async def test_triage_changes_are_stored_and_audited(storage: Storage) -> None:
    """Status, priority, assignee and labels change, and each change is one audit entry."""
    reviewer = crypto.generate_identity()
    report_id = await sealed_report(storage, CUSTODY, [reviewer.recipient])
    backend = _backend(storage)
    await backend.set_status(report_id, "triaged")
    await backend.set_priority(report_id, "urgent")
    await backend.assign(report_id, "alice")
    await backend.add_label(report_id, "needs-translation")
    await backend.add_label(report_id, "needs-translation")
    await backend.add_label(report_id, "mass grave")
    await backend.remove_label(report_id, "mass grave")
    summary = (await backend.get_report(report_id)).summary
    assert (summary.status, summary.priority, summary.assignee) == ("triaged", "urgent", "alice")
    assert summary.labels == ("needs-translation",)
    entries = await backend.audit.entries()
    assert [e.action for e in entries] == [
        "report.status", "report.priority", "report.assign", "report.label_add",
        "report.label_add", "report.label_add", "report.label_remove",
    ]
    assert all(e.actor == "alice" and e.report_id == report_id for e in entries)
    assert entries[0].details == {"from": "new", "to": "triaged"}
    trail = b"".join(r.entry for r in await storage.audit.entries())
    assert b"mass grave" not in trail and b"needs-translation" not in trail
    assert (await backend.audit.verify()).ok


async def test_bad_values_are_refused_before_anything_changes(storage: Storage) -> None:
    """Unknown statuses, bad labels, bad ids and missing reports are refused; nothing is audited."""
    report_id = await sealed_report(storage, CUSTODY, [crypto.generate_identity().recipient])
    backend = _backend(storage)
    with pytest.raises(InvalidRequestError, match="status must be one of"):
        await backend.set_status(report_id, "deleted")
    with pytest.raises(InvalidRequestError, match="priority"):
        await backend.set_priority(report_id, "meh")
    with pytest.raises(InvalidRequestError, match="labels are"):
        await backend.add_label(report_id, "Bad/Label")
    with pytest.raises(InvalidRequestError, match="32 lowercase"):
        await backend.set_status("../etc/passwd", "closed")
    with pytest.raises(NotFoundError):
        await backend.set_status("0" * 32, "closed")
    with pytest.raises(NotFoundError):
        await backend.get_report("0" * 32)
    with pytest.raises(InvalidRequestError, match="assignee"):
        await backend.assign(report_id, "x" * 65)
    assert await storage.audit.count() == 0


def test_label_rule() -> None:
    """Labels are short lowercase words; punctuation and capitals are refused."""
    assert validate_label("needs-translation_2 x") == "needs-translation_2 x"
    for bad in ("", " lead", "trail ", "A", "a,b", "a" * 49, "é"):
        with pytest.raises(ValueError):
            validate_label(bad)


async def test_queue_filters_and_paging(storage: Storage) -> None:
    """Filters on status, priority, assignee, label and day combine; pages do not overlap."""
    recipient = crypto.generate_identity().recipient
    ids = [
        await sealed_report(storage, CUSTODY, [recipient], day=DAY + dt.timedelta(days=n % 2))
        for n in range(6)
    ]
    backend = _backend(storage)
    await backend.set_status(ids[0], "closed")
    await backend.set_priority(ids[1], "high")
    await backend.assign(ids[2], "bob")
    await backend.add_label(ids[3], "video")
    everything = await backend.list_reports(QueueFilter())
    assert len(everything) == 6
    assert [s.received_day for s in everything] == sorted(s.received_day for s in everything)
    assert [s.report_id for s in await backend.list_reports(QueueFilter(status="closed"))] == [
        ids[0]
    ]
    assert [s.report_id for s in await backend.list_reports(QueueFilter(priority="high"))] == [
        ids[1]
    ]
    assert [s.report_id for s in await backend.list_reports(QueueFilter(assignee="bob"))] == [
        ids[2]
    ]
    labelled = await backend.list_reports(QueueFilter(label="video"))
    assert [(s.report_id, s.labels) for s in labelled] == [(ids[3], ("video",))]
    second_day = await backend.list_reports(QueueFilter(received_day=DAY + dt.timedelta(days=1)))
    assert sorted(s.report_id for s in second_day) == sorted(ids[1::2])
    pages = [await backend.list_reports(QueueFilter(), page=p, page_size=4) for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [4, 2, 0]
    assert [s.report_id for p in pages for s in p] == [s.report_id for s in everything]
    with pytest.raises(InvalidRequestError):
        await backend.list_reports(QueueFilter(), page=0)
    with pytest.raises(InvalidRequestError):
        await backend.list_reports(QueueFilter(), page_size=10_000)


async def test_note_round_trip_and_refusals(storage: Storage) -> None:
    """A note sealed to the reviewers is stored whole and opens; non-age uploads are refused."""
    reviewer = crypto.generate_identity()
    report_id = await sealed_report(storage, CUSTODY, [reviewer.recipient])
    await storage.recipients.add(
        "alice", str(reviewer.recipient), crypto.key_id(reviewer.recipient), DAY
    )
    backend = _backend(storage)
    recipients = [crypto.parse_recipient(r.recipient) for r in await backend.recipients()]
    header, payload = crypto.seal_bytes(b"call the lawyer", recipients)
    note = await backend.add_note(report_id, header + payload)
    assert note.author == "alice"
    stored = await backend.notes(report_id)
    assert [n.note_id for n in stored] == [note.note_id]
    stored_header, offset = crypto.split_header(stored[0].sealed)
    assert crypto.open_bytes(stored_header, stored[0].sealed[offset:], [reviewer]) == (
        b"call the lawyer"
    )
    for bad in (b"not age", header, b"x" * 300_000):
        with pytest.raises(InvalidRequestError):
            await backend.add_note(report_id, bad)
    entries = await backend.audit.entries()
    assert [e.action for e in entries] == ["note.add"]
    assert b"call the lawyer" not in json.dumps(entries[0].details).encode()


async def test_witness_message_needs_a_witness_recipient(storage: Storage) -> None:
    """A follow-up question is stored for reports with a witness recipient, refused otherwise."""
    witness = crypto.generate_identity()
    recipient = crypto.generate_identity().recipient
    with_witness = await sealed_report(storage, CUSTODY, [recipient], witness=witness.recipient)
    without = await sealed_report(storage, CUSTODY, [recipient])
    backend = _backend(storage)
    sealed = b"".join(crypto.seal_bytes(b"when exactly?", [witness.recipient]))
    await backend.leave_witness_message(with_witness, sealed)
    with pytest.raises(InvalidRequestError, match="no witness recipient"):
        await backend.leave_witness_message(without, sealed)
    messages = await storage.triage.witness_messages(with_witness)
    assert [m.sealed for m in messages] == [sealed]


async def test_payload_is_the_stored_ciphertext(storage: Storage) -> None:
    """read_payload returns exactly the blob, so header + payload opens as a standard age file."""
    reviewer = crypto.generate_identity()
    report_id = await sealed_report(storage, CUSTODY, [reviewer.recipient], attachments=[b"img"])
    backend = _backend(storage)
    report = await backend.get_report(report_id)
    item = report.items[1]
    payload = await backend.read_payload(report_id, 1)
    assert len(payload) == item.payload_size
    assert crypto.open_bytes(item.header, payload, [reviewer]) == b"img"
    with pytest.raises(NotFoundError):
        await backend.read_payload(report_id, 9)
    assert (await backend.custody_public_pem()).startswith(b"-----BEGIN PUBLIC KEY-----")


async def test_credentials_store_only_a_hash(storage: Storage) -> None:
    """Credentials keep the token's hash only, one active per name, and revoke at once."""
    token = secrets.token_urlsafe(32)
    record = await storage.credentials.add("alice", Role.REVIEWER, token, DAY)
    assert record.active and record.role is Role.REVIEWER
    assert (await storage.credentials.authenticate(token)) == record
    assert (await storage.credentials.find_by_hash(token_hash(token))) == record
    assert await storage.credentials.authenticate(token + "x") is None
    with pytest.raises(CredentialExistsError):
        await storage.credentials.add("alice", Role.ADMIN, secrets.token_urlsafe(32), DAY)
    await storage.credentials.revoke("alice", DAY)
    assert await storage.credentials.authenticate(token) is None
    with pytest.raises(UnknownCredentialError):
        await storage.credentials.revoke("alice", DAY)
    await storage.credentials.add("alice", Role.ADMIN, secrets.token_urlsafe(32), DAY)
    listed = await storage.credentials.registered()
    assert [(c.name, c.active) for c in listed] == [("alice", False), ("alice", True)]
    async with storage.engine.connect() as connection:
        stored = (await connection.execute(text("SELECT token_hash FROM credentials"))).all()
    assert token.encode() not in b"".join(bytes(row[0]) for row in stored)
