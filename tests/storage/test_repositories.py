"""Storage on real SQLite files and a real PostgreSQL database."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import inspect

from storage import DuplicateSubmission, ItemRole, NewReport, QueueFilters, Storage
from storage.models import Base
from tests.storage.builders import new_report

DAY = dt.date(2026, 11, 24)


def _report(submission: bytes = b"s" * 32, items: int = 2) -> NewReport:
    return new_report(
        DAY, items=items, submission_key=submission, size_grows_by_seq=True,
        recipient_key_ids=("0123456789abcdef", "fedcba9876543210"),
    )


async def test_report_round_trip(storage: Storage) -> None:
    """A stored report comes back with every header, size, hash and recipient key id."""
    report = _report(items=3)
    await storage.reports.add(report)
    stored = await storage.reports.get(report.report_id)
    assert stored is not None
    assert stored.summary.received_day == DAY
    assert stored.summary.status == "new"
    assert stored.summary.item_count == 3
    assert [i.header for i in stored.items] == [i.header for i in report.items]
    assert stored.items[1].recipient_key_ids == ("0123456789abcdef", "fedcba9876543210")
    assert stored.items[0].role is ItemRole.ANSWERS
    assert stored.manifest_signature == report.manifest_signature


async def test_redelivered_submission_is_refused(storage: Storage) -> None:
    """The same submission key twice gives DuplicateSubmission naming the first report."""
    first = _report(submission=b"k" * 32)
    await storage.reports.add(first)
    with pytest.raises(DuplicateSubmission) as caught:
        await storage.reports.add(_report(submission=b"k" * 32))
    assert caught.value.report_id == first.report_id
    assert await storage.reports.count() == 1
    assert await storage.reports.find_by_submission_key(b"k" * 32) == first.report_id


async def test_failed_write_leaves_nothing(storage: Storage) -> None:
    """A report whose items collide is rolled back whole: no half-written report."""
    report = _report(items=2)
    clash = NewReport(**{**report.__dict__, "items": (report.items[0], report.items[0])})
    with pytest.raises(Exception):  # noqa: B017 - any integrity error; what matters is the rollback
        await storage.reports.add(clash)
    assert await storage.reports.count() == 0


async def test_list_and_filter(storage: Storage) -> None:
    """Listing gives id, day, status and item count, and filters by status."""
    for _ in range(3):
        await storage.reports.add(_report(submission=secrets.token_bytes(32), items=1))
    listed = (await storage.queue.page()).reports
    assert len(listed) == 3
    assert all(s.item_count == 1 and s.status == "new" for s in listed)
    assert (await storage.queue.page(QueueFilters(status="closed"))).reports == []


async def test_recipients_add_remove(storage: Storage) -> None:
    """Removed recipients stay listed but are no longer active."""
    await storage.recipients.add("alice", "age1alice", "aaaaaaaaaaaaaaaa", DAY)
    await storage.recipients.add("bob", "age1bob", "bbbbbbbbbbbbbbbb", DAY)
    await storage.recipients.remove("bob", DAY)
    assert [r.name for r in await storage.recipients.active()] == ["alice"]
    assert [(r.name, r.active) for r in await storage.recipients.registered()] == [
        ("alice", True),
        ("bob", False),
    ]


async def test_schema_matches_models(storage: Storage) -> None:
    """The Alembic migration creates exactly the tables and columns the models declare."""

    def columns(sync_connection: object) -> dict[str, set[str]]:
        inspector = inspect(sync_connection)
        return {
            t: {c["name"] for c in inspector.get_columns(t)} for t in Base.metadata.tables
        }

    async with storage.engine.connect() as connection:
        found = await connection.run_sync(columns)
    expected = {name: set(table.columns.keys()) for name, table in Base.metadata.tables.items()}
    assert found == expected


async def test_old_submission_keys_are_forgotten(storage: Storage) -> None:
    """Keys of reports older than the cut-off are replaced; newer ones still deduplicate."""
    old = _report(submission=b"o" * 32)
    old = NewReport(**{**old.__dict__, "received_day": DAY - dt.timedelta(days=3)})
    new = _report(submission=b"n" * 32)
    await storage.reports.add(old)
    await storage.reports.add(new)
    assert await storage.additions.forget_submission_keys(DAY - dt.timedelta(days=2)) == 1
    assert await storage.reports.find_by_submission_key(b"o" * 32) is None
    assert await storage.reports.find_by_submission_key(b"n" * 32) == new.report_id
    assert await storage.additions.forget_submission_keys(DAY - dt.timedelta(days=2)) == 0
