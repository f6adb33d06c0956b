"""Keyset paging of the queue on real SQLite files and a real PostgreSQL database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from storage import (
    InvalidCursorError,
    NewReport,
    QueueFilters,
    Storage,
)
from storage.models import Base
from storage.queue import encode_cursor
from tests.storage.builders import new_report

DAYS = (dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22))


def _report(day: dt.date, items: int = 1, report_id: str | None = None) -> NewReport:
    return new_report(day, items=items, report_id=report_id, receipt_hash_bytes=33)


async def _fill(storage: Storage, per_day: int = 7) -> list[NewReport]:
    """Several reports on each of three days: many ties on the day, broken by the id."""
    added = []
    for index in range(per_day * len(DAYS)):
        report = _report(DAYS[index % len(DAYS)], items=1 + index % 3)
        await storage.reports.add(report)
        added.append(report)
    return added


def _order(reports: list[NewReport]) -> list[str]:
    return [r.report_id for r in sorted(reports, key=lambda r: (r.received_day, r.report_id))]


async def _walk(
    storage: Storage, filters: QueueFilters | None = None, size: int = 4
) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = await storage.queue.page(filters, cursor=cursor, limit=size)
        assert len(page.reports) <= size
        seen.extend(s.report_id for s in page.reports)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def test_cursor_pages_return_every_report_once_in_order(storage: Storage) -> None:
    """Walking page by page gives every report exactly once, in (day, id) order, with ties on
    the day; item counts are each report's own; the last page has no next cursor."""
    added = await _fill(storage)
    assert await _walk(storage, size=4) == _order(added)
    assert await _walk(storage, size=1) == _order(added)
    assert await _walk(storage, size=len(added)) == _order(added)
    page = await storage.queue.page(limit=len(added))
    assert page.next_cursor is None and page.total is None
    counts = {r.report_id: len(r.items) for r in added}
    assert {s.report_id: s.item_count for s in page.reports} == counts


async def test_reports_added_between_pages(storage: Storage) -> None:
    """Reports received while someone pages (today, random ids) never make a report appear
    twice or one already there go missing; those sorting after the cursor show up too."""
    added = await _fill(storage, per_day=4)
    first = await storage.queue.page(limit=5)
    assert first.next_cursor is not None
    last_seen = first.reports[-1]
    # One that sorts before the cursor (same day, smaller id), one after it, one on a new day.
    before = _report(last_seen.received_day, report_id="0" * 32)
    after = _report(last_seen.received_day, report_id="f" * 32)
    later = _report(DAYS[-1] + dt.timedelta(days=1))
    for report in (before, after, later):
        await storage.reports.add(report)
    seen = [s.report_id for s in first.reports]
    cursor: str | None = first.next_cursor
    while cursor is not None:
        page = await storage.queue.page(cursor=cursor, limit=5)
        seen.extend(s.report_id for s in page.reports)
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i != before.report_id] == _order([*added, after, later])
    assert before.report_id not in seen


async def test_filters_combine_with_cursors(storage: Storage) -> None:
    """Each filter, and several at once, pages through exactly the matching reports in order;
    the total counts all of them only when asked for."""
    added = await _fill(storage)
    ordered = _order(added)
    closed, urgent, labelled, bo = ordered[1::2], ordered[::3], ordered[2::4], ordered[::5]
    for report_id in closed:
        await storage.triage.set_status(report_id, "closed")
    for report_id in urgent:
        await storage.triage.set_priority(report_id, "urgent")
    for report_id in labelled:
        await storage.triage.add_label(report_id, "checked")
        await storage.triage.add_label(report_id, "another")
    for report_id in bo:
        await storage.triage.set_assignee(report_id, "bo")

    def matching(*groups: list[str]) -> list[str]:
        return [i for i in ordered if all(i in g for g in groups)]

    cases = [
        (QueueFilters(status="closed"), matching(closed)),
        (QueueFilters(priority="urgent"), matching(urgent)),
        (QueueFilters(label="checked"), matching(labelled)),
        (QueueFilters(assignee="bo"), matching(bo)),
        (QueueFilters(received_day=DAYS[1]),
         [r.report_id for r in added if r.received_day == DAYS[1]]),
        (QueueFilters(status="closed", priority="urgent"), matching(closed, urgent)),
        (QueueFilters(status="closed", label="checked"), matching(closed, labelled)),
        (QueueFilters(label="nobody-has-it"), []),
        (QueueFilters(assignee="nobody"), []),
    ]
    for filters, expected in cases:
        assert await _walk(storage, filters, size=2) == sorted(
            expected, key=lambda i: ordered.index(i)
        ), filters
        page = await storage.queue.page(filters, limit=2, with_total=True)
        assert page.total == len(expected)
        assert await storage.queue.count(filters) == len(expected)
    [first] = (await storage.queue.page(QueueFilters(label="checked"), limit=1)).reports
    assert first.labels == ("another", "checked")


async def test_malformed_cursors_are_refused(storage: Storage) -> None:
    """Anything that is not a cursor this store handed out raises InvalidCursorError."""
    await _fill(storage, per_day=1)
    good = encode_cursor(DAYS[0], "ab" * 16)
    for bad in ("", "!!!", "a" * 200, good[:-3], "MjAyNi0xMS0yMA", "bm90LWEtY3Vyc29y",
                encode_cursor(DAYS[0], "ab" * 16).upper(), "ä"):
        with pytest.raises(InvalidCursorError):
            await storage.queue.page(cursor=bad)
    assert (await storage.queue.page(cursor=good)).reports is not None


async def test_queue_indexes_exist(storage: Storage) -> None:
    """Migration 0005 creates every index the models declare for the queue's filters."""

    def indexes(sync_connection: object) -> dict[str, set[str]]:
        inspector = inspect(sync_connection)
        return {t: {i["name"] or "" for i in inspector.get_indexes(t)}
                for t in ("reports", "report_labels")}

    async with storage.engine.connect() as connection:
        found = await connection.run_sync(indexes)
    for table in ("reports", "report_labels"):
        declared = {i.name for i in Base.metadata.tables[table].indexes}
        assert declared and declared <= found[table]
    assert "ix_reports_received_day" not in found["reports"]


async def test_migration_0005_keeps_labels_and_dates_them(
    empty_database_url: str, tmp_path: Path
) -> None:
    """A store at revision 0002 with a labelled report upgrades: the label row gets its report's
    day and the label filter finds the report."""
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.database import _alembic_config

    (tmp_path / "data").mkdir(exist_ok=True)  # where the SQLite URL points
    engine = create_async_engine(empty_database_url)
    async with engine.begin() as connection:
        await connection.run_sync(
            lambda sync: command.upgrade(_alembic_config(sync), "0002")
        )
        await connection.execute(text(
            "INSERT INTO reports (id, received_day, status, priority, receipt_hash, "
            "submission_key, manifest, manifest_signature) VALUES "
            "(:id, :day, 'new', 'normal', :h, :s, :m, :sig)"
        ), {"id": "ab" * 16, "day": DAYS[1], "h": b"h" * 32, "s": b"s" * 32, "m": b"{}",
            "sig": b"x" * 64})
        await connection.execute(text(
            "INSERT INTO report_labels (report_id, label) VALUES (:id, 'old')"
        ), {"id": "ab" * 16})
    await engine.dispose()
    storage = await Storage.open(empty_database_url, tmp_path / "blobs")
    try:
        [found] = (await storage.queue.page(QueueFilters(label="old"))).reports
        assert found.report_id == "ab" * 16 and found.received_day == DAYS[1]
    finally:
        await storage.close()


async def test_ids_with_prefix_is_a_range_on_the_id(storage: Storage) -> None:
    """Ids starting with a prefix, in id order, at most `limit`; neighbours on either side of
    the range (same prefix but one digit off, "f" and "9" at the end) are left out."""
    ids = ["abcd" + "0" * 28, "abcd" + "f" * 28, "abce" + "0" * 28, "abcc" + "f" * 28,
           "abc9" + "0" * 28, "abca" + "0" * 28, "abcf" + "0" * 28, "abd0" + "0" * 28]
    for report_id in ids:
        await storage.reports.add(_report(DAYS[0], report_id=report_id))
    queue = storage.queue
    assert await queue.ids_with_prefix("abcd") == ["abcd" + "0" * 28, "abcd" + "f" * 28]
    assert await queue.ids_with_prefix("abcf") == ["abcf" + "0" * 28]
    assert await queue.ids_with_prefix("abc9") == ["abc9" + "0" * 28]
    assert await queue.ids_with_prefix("abc", limit=3) == sorted(ids)[:3]
    assert await queue.ids_with_prefix("abcd" + "f" * 28) == ["abcd" + "f" * 28]
    assert await queue.ids_with_prefix("0123") == []
