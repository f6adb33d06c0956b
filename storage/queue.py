"""The reviewers' queue: filtered listing of reports, one page at a time, at any queue size.

Pages are *keyset* pages: the queue is ordered by (received day, report id), and a page starts
after the last row of the one before, named by an opaque cursor. Every filter has an index that
ends in that order (migration 0005), so a page costs the same at the millionth report as at the
first, whatever the filters. Item counts are computed for the page's rows only; the total is
counted only when asked for.

Reports carry no arrival order (the metadata policy keeps only the day), so a report received
while someone pages through the queue sorts by its random id within today: it shows up on a
later page if its id sorts after the cursor, and not in this walk otherwise. No report is ever
returned twice, and none that was there at the start is skipped.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import ItemRow, LabelRow, ReportRow
from storage.records import ReportSummary
from storage.scope import reports_of

_CURSOR_BODY = re.compile(r"(\d{4}-\d{2}-\d{2})\.([0-9a-f]{32})")
_MAX_CURSOR_CHARS = 96


class InvalidCursorError(ValueError):
    """A cursor this store did not hand out (malformed, truncated or from another tool)."""

    def __init__(self) -> None:
        super().__init__(
            "the cursor is not one this server handed out: start again without a cursor"
        )


@dataclass(frozen=True)
class QueueFilters:
    status: str | None = None
    priority: str | None = None
    assignee: str | None = None
    label: str | None = None
    received_day: dt.date | None = None
    # One channel's reports only (reviewers scoped to a channel; docs/channels.md).
    channel: str | None = None


@dataclass(frozen=True)
class QueuePage:
    reports: list[ReportSummary]
    # Pass it back to get the next page; None when this page is the last.
    next_cursor: str | None
    # How many reports match the filters in all, when it was asked for.
    total: int | None = None


def encode_cursor(received_day: dt.date, report_id: str) -> str:
    """An opaque token naming a position in the queue's order (after this report)."""
    body = f"{received_day.isoformat()}.{report_id}".encode("ascii")
    return base64.urlsafe_b64encode(body).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.date, str]:
    """The (day, report id) a cursor names; InvalidCursorError for anything else."""
    if not cursor or len(cursor) > _MAX_CURSOR_CHARS or not cursor.isascii():
        raise InvalidCursorError
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        body = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
        match = _CURSOR_BODY.fullmatch(body)
        if match is None:
            raise InvalidCursorError
        return dt.date.fromisoformat(match[1]), match[2]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursorError from None


# Plain columns, not ORM objects: a page of rows is built several times faster.
_COLUMNS = (
    ReportRow.id, ReportRow.received_day, ReportRow.status, ReportRow.priority, ReportRow.assignee,
    ReportRow.channel,
)
_Columns = Select[str, dt.date, str, str, str | None, str]
_Row = tuple[str, dt.date, str, str, str | None, str]


def _order(filters: QueueFilters) -> tuple[Any, Any]:
    """The (day, id) columns to sort and seek on: the label rows' own copy under a label filter,
    so the label's index is read in queue order instead of sorting all its reports."""
    if filters.label is not None:
        return LabelRow.received_day, LabelRow.report_id
    return ReportRow.received_day, ReportRow.id


def _filtered(query: _Columns, filters: QueueFilters) -> _Columns:
    if filters.status is not None:
        query = query.where(ReportRow.status == filters.status)
    if filters.priority is not None:
        query = query.where(ReportRow.priority == filters.priority)
    if filters.assignee is not None:
        query = query.where(ReportRow.assignee == filters.assignee)
    if filters.received_day is not None:
        query = query.where(ReportRow.received_day == filters.received_day)
    query = query.where(*reports_of(filters.channel))
    if filters.label is not None:
        query = query.join(LabelRow, LabelRow.report_id == ReportRow.id).where(
            LabelRow.label == filters.label
        )
    return query


def page_query(filters: QueueFilters, cursor: str | None, limit: int) -> _Columns:
    """The SELECT of up to `limit` rows after `cursor` (public for the benchmark's EXPLAIN)."""
    query = _filtered(select(*_COLUMNS), filters)
    day_column, id_column = _order(filters)
    if cursor is not None:
        day, report_id = decode_cursor(cursor)
        query = query.where(tuple_(day_column, id_column) > (day, report_id))
    return query.order_by(day_column, id_column).limit(max(limit, 0))


class QueueRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def ids_with_prefix(
        self, prefix: str, limit: int = 4, *, channel: str | None = None
    ) -> list[str]:
        """Up to `limit` report ids starting with `prefix` (lowercase hex), in id order; of one
        channel's reports only, when `channel` is given.

        A range on the primary key's index, `prefix <= id < prefix + "g"` ("g" sorts after
        every hexadecimal digit, in C and in language collations alike), rather than LIKE,
        which PostgreSQL cannot serve from the index under a language collation.
        """
        query = (
            select(ReportRow.id)
            .where(ReportRow.id >= prefix, ReportRow.id < prefix + "g")
            .where(*reports_of(channel))
            .order_by(ReportRow.id)
            .limit(limit)
        )
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())

    async def page(
        self,
        filters: QueueFilters | None = None,
        *,
        cursor: str | None = None,
        limit: int = 50,
        with_total: bool = False,
    ) -> QueuePage:
        """The `limit` reports after `cursor` (from the start without one), oldest day first."""
        filters = filters or QueueFilters()
        query = page_query(filters, cursor, limit + 1)
        async with self._sessions() as session:
            rows: Sequence[_Row] = (await session.execute(query)).all()
            more = len(rows) > limit
            rows = rows[:limit]
            summaries = await _summaries(session, rows)
            total = await _count(session, filters) if with_total else None
        last = rows[-1] if rows and more else None
        next_cursor = encode_cursor(last[1], last[0]) if last is not None else None
        return QueuePage(summaries, next_cursor, total)

    async def page_at_offset(
        self, filters: QueueFilters | None = None, *, offset: int = 0, limit: int = 50
    ) -> list[ReportSummary]:
        """A page by number, for the console's page links: its cost grows with the offset."""
        filters = filters or QueueFilters()
        query = _filtered(select(*_COLUMNS), filters).order_by(*_order(filters))
        query = query.offset(max(offset, 0)).limit(max(limit, 0))
        async with self._sessions() as session:
            rows: Sequence[_Row] = (await session.execute(query)).all()
            return await _summaries(session, rows)

    async def count(self, filters: QueueFilters | None = None) -> int:
        async with self._sessions() as session:
            return await _count(session, filters or QueueFilters())

    async def walk(
        self, filters: QueueFilters | None = None, *, page_size: int = 500
    ) -> AsyncIterator[ReportSummary]:
        """Every matching report once, in queue order, one keyset page in memory at a time."""
        cursor: str | None = None
        while True:
            found = await self.page(filters, cursor=cursor, limit=page_size)
            for summary in found.reports:
                yield summary
            if found.next_cursor is None:
                return
            cursor = found.next_cursor


async def _count(session: AsyncSession, filters: QueueFilters) -> int:
    matching = _filtered(select(*_COLUMNS), filters).subquery()
    return int(await session.scalar(select(func.count()).select_from(matching)) or 0)


async def _summaries(session: AsyncSession, rows: Sequence[_Row]) -> list[ReportSummary]:
    """Summaries with item counts and labels, two queries for the whole page."""
    ids = [row[0] for row in rows]
    counts: dict[str, int] = {}
    labels: dict[str, list[str]] = {report_id: [] for report_id in ids}
    if ids:
        for report_id, count in (await session.execute(
            select(ItemRow.report_id, func.count(ItemRow.id))
            .where(ItemRow.report_id.in_(ids))
            .group_by(ItemRow.report_id)
        )).all():
            counts[report_id] = int(count)
        for report_id, text in (await session.execute(
            select(LabelRow.report_id, LabelRow.label)
            .where(LabelRow.report_id.in_(ids))
            .order_by(LabelRow.label)
        )).all():
            labels[report_id].append(text)
    return [
        ReportSummary(
            report_id=report_id,
            received_day=day,
            status=status,
            priority=priority,
            assignee=assignee,
            item_count=counts.get(report_id, 0),
            labels=tuple(labels[report_id]),
            channel=channel,
        )
        for report_id, day, status, priority, assignee, channel in rows
    ]
