"""Retention in the database: expiry dates, expired reports, and crypto-shredding."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import ItemRecipientRow, ItemRow, ReportRow, SupersededHeaderRow
from storage.rows import release_freed_space, rowcount
from storage.scope import reports_of

# Every table a shredded report leaves rows in.
_SHREDDED_TABLES = (
    "items", "item_recipients", "reports", "notes", "witness_messages", "report_labels",
    "payloads", "payload_chunks", "superseded_headers",
)


@dataclass(frozen=True)
class ShreddedReport:
    report_id: str
    status: str
    # Blob names of the payloads, to delete now that no header can open them any more.
    item_ids: tuple[str, ...]


class ReportRetention:
    """ReportRepository's retention queries: expiry dates, expired reports, shredding."""

    _sessions: async_sessionmaker[AsyncSession]

    async def schedule_expiry(
        self, periods: Mapping[str, int], today: dt.date, *, channel: str | None = None
    ) -> tuple[int, int]:
        """Give reports (of `channel`, or all) in a status with a retention period an expiry
        date, once.

        A report in status S without `expires_on` gets today + periods[S] days. A report whose
        status has no period (reopened, say) loses its expiry date. Returns (scheduled, cleared).
        """
        scheduled = cleared = 0
        scope = reports_of(channel)
        async with self._sessions.begin() as session:
            for status, days in periods.items():
                result = await session.execute(
                    update(ReportRow)
                    .where(ReportRow.status == status, ReportRow.expires_on.is_(None), *scope)
                    .values(expires_on=today + dt.timedelta(days=days))
                    .execution_options(synchronize_session=False)
                )
                scheduled += rowcount(result)
            keep: ColumnElement[bool] = ReportRow.expires_on.is_not(None)
            if periods:
                keep = keep & ReportRow.status.not_in(list(periods))
            result = await session.execute(
                update(ReportRow)
                .where(keep, *scope)
                .values(expires_on=None)
                .execution_options(synchronize_session=False)
            )
            cleared = rowcount(result)
        return scheduled, cleared

    async def expired(
        self, statuses: Collection[str], today: dt.date, *, page_size: int = 500,
        channel: str | None = None,
    ) -> AsyncIterator[str]:
        """Ids of reports (of `channel`, or all) in one of `statuses` whose expiry date is today
        or earlier.

        Streamed in keyset pages of (expires_on, id), so a walk over a large store holds one
        page in memory, and reports shredded meanwhile do not shift the pages after them.
        """
        if not statuses:
            return
        position: tuple[dt.date, str] | None = None
        while True:
            query = (
                select(ReportRow.expires_on, ReportRow.id)
                .where(ReportRow.status.in_(list(statuses)), ReportRow.expires_on <= today)
                .where(*reports_of(channel))
                .order_by(ReportRow.expires_on, ReportRow.id)
                .limit(page_size)
            )
            if position is not None:
                query = query.where(tuple_(ReportRow.expires_on, ReportRow.id) > position)
            async with self._sessions() as session:
                rows = (await session.execute(query)).all()
            for _expires_on, report_id in rows:
                yield report_id
            if len(rows) < page_size:
                return
            last_day, last_id = rows[-1]
            assert last_day is not None  # the WHERE clause keeps only rows with a date
            position = (last_day, last_id)

    async def shred(
        self,
        report_id: str,
        *,
        statuses: Collection[str] | None = None,
        expired_on: dt.date | None = None,
    ) -> ShreddedReport | None:
        """Delete a report's headers and rows in one transaction (crypto-shredding).

        With `statuses` and `expired_on`, only if the report is still in one of those statuses
        and expires on that day or before, checked inside the transaction so a report reopened
        meanwhile is kept. Returns None if nothing was deleted. The payload blobs are left to
        the caller: without their headers they cannot be decrypted by anyone, and deleting
        files cannot be part of a database transaction.
        """
        async with self._sessions.begin() as session:
            query = select(ReportRow.status).where(ReportRow.id == report_id)
            if statuses is not None:
                query = query.where(ReportRow.status.in_(list(statuses)))
            if expired_on is not None:
                query = query.where(ReportRow.expires_on <= expired_on)
            status = await session.scalar(query.with_for_update())
            if status is None:
                return None
            item_ids = tuple((await session.scalars(
                select(ItemRow.id).where(ItemRow.report_id == report_id).order_by(ItemRow.seq)
            )).all())
            # Headers first (they hold the only wrapped copies of the file keys), then the
            # report row, whose foreign keys take labels, notes and witness messages with it.
            await session.execute(
                delete(ItemRecipientRow).where(ItemRecipientRow.item_id.in_(item_ids))
            )
            await session.execute(delete(ItemRow).where(ItemRow.report_id == report_id))
            await session.execute(delete(SupersededHeaderRow).where(
                SupersededHeaderRow.report_id == report_id
            ))
            await session.execute(delete(ReportRow).where(ReportRow.id == report_id))
        return ShreddedReport(report_id, status, item_ids)

    async def release_freed_space(self) -> None:
        """Push shredded reports' rows out of the database files (see rows.release_freed_space)."""
        await release_freed_space(self._sessions, _SHREDDED_TABLES)
