"""Repositories: the only code that speaks SQL. They take and return plain records."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload, undefer

from storage.header_swaps import HeaderSwaps
from storage.models import ItemRow, ReportRow
from storage.payload_swaps import PayloadSwaps
from storage.records import NewReport, StoredReport
from storage.retention import ReportRetention
from storage.rotation_items import RotationItems
from storage.rows import report_row as report_row  # re-exported for storage/conversations.py
from storage.rows import report_summary, stored_item


class DuplicateSubmission(Exception):
    """The submission key is already stored: this update was processed before."""

    def __init__(self, report_id: str) -> None:
        super().__init__("this submission was already stored")
        self.report_id = report_id


class ReportRepository(HeaderSwaps, RotationItems, PayloadSwaps, ReportRetention):
    """Reports and their items: storing, finding and reading them (key rotation in
    storage/rotation_items.py, storage/header_swaps.py and storage/payload_swaps.py, retention
    in storage/retention.py)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, report: NewReport) -> None:
        """Store a report and all its item headers in one transaction.

        Raises DuplicateSubmission when the same submission was stored before, so a redelivered
        update never creates a second report.
        """
        try:
            async with self._sessions.begin() as session:
                session.add(report_row(report))
        except IntegrityError:
            existing = await self.find_by_submission_key(report.submission_key)
            if existing is None:
                raise
            raise DuplicateSubmission(existing) from None

    async def find_by_submission_key(self, submission_key: bytes) -> str | None:
        async with self._sessions() as session:
            found = await session.scalar(
                select(ReportRow.id).where(ReportRow.submission_key == submission_key)
            )
            return found

    async def find_by_receipt_hash(self, receipt_hash: bytes) -> str | None:
        async with self._sessions() as session:
            found = await session.scalar(
                select(ReportRow.id).where(ReportRow.receipt_hash == receipt_hash)
            )
            return found

    async def has_receipt_hashes_of_length(self, length: int) -> bool:
        """Whether any report's receipt hash has this many bytes (tells hashing schemes apart:
        the bot's legacy scrypt hashes are 32 bytes, its current ones carry a marker byte)."""
        async with self._sessions() as session:
            found = await session.scalar(
                select(ReportRow.id).where(func.length(ReportRow.receipt_hash) == length).limit(1)
            )
        return found is not None

    async def get(self, report_id: str) -> StoredReport | None:
        query = (
            select(ReportRow)
            .where(ReportRow.id == report_id)
            .options(
                undefer(ReportRow.channel),
                selectinload(ReportRow.items).selectinload(ItemRow.recipients),
            )
        )
        async with self._sessions() as session:
            row = await session.scalar(query)
        if row is None:
            return None
        return StoredReport(
            summary=report_summary(row, len(row.items)),
            manifest=row.manifest,
            manifest_signature=row.manifest_signature,
            witness_recipient=row.witness_recipient,
            items=tuple(stored_item(item) for item in row.items),
        )

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(ReportRow.id))) or 0)

    async def channel_of(self, report_id: str) -> str | None:
        """The channel a report came through; None when there is no such report."""
        async with self._sessions() as session:
            found: str | None = await session.scalar(
                select(ReportRow.channel).where(ReportRow.id == report_id)
            )
        return found

    async def channels_of(self, report_ids: Collection[str]) -> dict[str, str]:
        """The channel of each of these reports that exists (absent ones are left out)."""
        ids = sorted(set(report_ids))
        found: dict[str, str] = {}
        async with self._sessions() as session:
            for start in range(0, len(ids), 500):
                rows = await session.execute(
                    select(ReportRow.id, ReportRow.channel)
                    .where(ReportRow.id.in_(ids[start:start + 500]))
                )
                found.update({report_id: channel for report_id, channel in rows})
        return found

    async def ids_in_channel(self, channel: str) -> list[str]:
        """Every report id of one channel (for work scoped to it: rewrap, retention)."""
        async with self._sessions() as session:
            found = await session.scalars(
                select(ReportRow.id).where(ReportRow.channel == channel).order_by(ReportRow.id)
            )
            return list(found)
