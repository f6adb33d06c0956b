"""Appending to a stored report: what a witness adds later with their receipt code."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import LargeBinary, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import AdditionMarkRow, ItemRow, ReportRow
from storage.records import NewItem
from storage.rows import item_row

_LIVE_KEY_BYTES = 32


class ReportGone(LookupError):
    """The report no longer exists (shredded by retention or at the witness's request)."""


class ManifestChanged(Exception):
    """Someone changed the report's items first; rebuild the manifest and try again."""


class AlreadyAdded(Exception):
    """The update carrying this addition was already stored (a redelivery after a crash)."""


class AdditionRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def next_seq(self, report_id: str) -> int:
        async with self._sessions() as session:
            highest = await session.scalar(
                select(func.max(ItemRow.seq)).where(ItemRow.report_id == report_id)
            )
        return int(highest or 0) + 1

    async def was_added(self, submission_key: bytes) -> bool:
        async with self._sessions() as session:
            found = await session.get(AdditionMarkRow, submission_key)
        return found is not None

    async def append(
        self,
        report_id: str,
        expected_manifest: bytes,
        items: tuple[NewItem, ...],
        manifest: bytes,
        manifest_signature: bytes,
        *,
        submission_key: bytes,
        day: dt.date,
    ) -> None:
        """Add items, swap the custody manifest and mark the update, in one transaction.

        Raises ManifestChanged if someone changed the report first, and AlreadyAdded if the
        update that carries this addition was stored before (by this worker before a crash,
        or by another worker it was redelivered to).
        """
        try:
            async with self._sessions.begin() as session:
                if await session.get(AdditionMarkRow, submission_key) is not None:
                    raise AlreadyAdded()
                report = await session.get(ReportRow, report_id, with_for_update=True)
                if report is None:
                    raise ReportGone(report_id)
                if report.manifest != expected_manifest:
                    raise ManifestChanged()
                session.add(AdditionMarkRow(submission_key=submission_key, day=day))
                for item in items:
                    session.add(item_row(item, report_id))
                report.manifest = manifest
                report.manifest_signature = manifest_signature
        except IntegrityError:
            # Two workers appending for the same redelivered update: the mark's key collided.
            # Any other integrity error is not that, and must not pass for a stored addition.
            if await self.was_added(submission_key):
                raise AlreadyAdded() from None
            raise

    async def forget_submission_keys(self, received_before: dt.date) -> int:
        """Drop the keyed hashes of old submitting updates (of reports and of additions).

        They exist only so a redelivered update is recognised, and Telegram keeps undelivered
        updates for 24 hours. Kept longer, the hashes (with the server key) could link reports
        to update ids, and update ids are reused after a week without updates.
        """
        async with self._sessions.begin() as session:
            await session.execute(
                delete(AdditionMarkRow).where(AdditionMarkRow.day < received_before)
            )
            # A forgotten key becomes "forgotten:<report id>": still unique and non-null, but
            # saying nothing about the update. Live keys are 32-byte HMACs; forgotten ones longer.
            result = await session.execute(
                update(ReportRow)
                .where(func.length(ReportRow.submission_key) == _LIVE_KEY_BYTES)
                .where(ReportRow.received_day < received_before)
                .values(submission_key=func.cast(literal("forgotten:") + ReportRow.id,
                                                 LargeBinary))
                .execution_options(synchronize_session=False)
            )
        return int(getattr(result, "rowcount", 0) or 0)
