"""Repositories: the only code that speaks SQL. They take and return plain records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from storage.models import (
    ItemRecipientRow,
    ItemRole,
    ItemRow,
    RecipientKind,
    RecipientRow,
    ReportRow,
)
from storage.records import (
    NewReport,
    RecipientRecord,
    ReportSummary,
    StoredItem,
    StoredReport,
)


class DuplicateSubmission(Exception):
    """The submission key is already stored: this update was processed before."""

    def __init__(self, report_id: str) -> None:
        super().__init__("this submission was already stored")
        self.report_id = report_id


class RecipientExistsError(Exception):
    pass


class UnknownRecipientError(Exception):
    pass


class ReportRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, report: NewReport) -> None:
        """Store a report and all its item headers in one transaction.

        Raises DuplicateSubmission when the same submission was stored before, so a redelivered
        update never creates a second report.
        """
        row = ReportRow(
            id=report.report_id,
            received_day=report.received_day,
            status="new",
            priority="normal",
            receipt_hash=report.receipt_hash,
            submission_key=report.submission_key,
            manifest=report.manifest,
            manifest_signature=report.manifest_signature,
            witness_recipient=report.witness_recipient,
            items=[
                ItemRow(
                    id=item.item_id,
                    seq=item.seq,
                    role=item.role.value,
                    header=item.header,
                    payload_size=item.payload_size,
                    payload_sha256=item.payload_sha256,
                    parent_seq=item.parent_seq,
                    recipients=[ItemRecipientRow(key_id=k) for k in item.recipient_key_ids],
                )
                for item in report.items
            ],
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
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

    async def summaries(self, *, status: str | None = None) -> list[ReportSummary]:
        item_count = (
            select(func.count(ItemRow.id))
            .where(ItemRow.report_id == ReportRow.id)
            .scalar_subquery()
        )
        query = select(ReportRow, item_count).order_by(ReportRow.received_day, ReportRow.id)
        if status is not None:
            query = query.where(ReportRow.status == status)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [_summary(row, count) for row, count in rows]

    async def get(self, report_id: str) -> StoredReport | None:
        query = (
            select(ReportRow)
            .where(ReportRow.id == report_id)
            .options(selectinload(ReportRow.items).selectinload(ItemRow.recipients))
        )
        async with self._sessions() as session:
            row = await session.scalar(query)
        if row is None:
            return None
        return StoredReport(
            summary=_summary(row, len(row.items)),
            manifest=row.manifest,
            manifest_signature=row.manifest_signature,
            witness_recipient=row.witness_recipient,
            items=tuple(
                StoredItem(
                    item_id=item.id,
                    seq=item.seq,
                    role=ItemRole(item.role),
                    header=item.header,
                    payload_size=item.payload_size,
                    payload_sha256=item.payload_sha256,
                    recipient_key_ids=tuple(r.key_id for r in item.recipients),
                    parent_seq=item.parent_seq,
                )
                for item in row.items
            ),
        )

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(ReportRow.id))) or 0)


def _summary(row: ReportRow, item_count: int) -> ReportSummary:
    return ReportSummary(
        report_id=row.id,
        received_day=row.received_day,
        status=row.status,
        priority=row.priority,
        assignee=row.assignee,
        item_count=item_count,
    )


class RecipientRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(
        self,
        name: str,
        recipient: str,
        key_id: str,
        today: dt.date,
        kind: RecipientKind = RecipientKind.REVIEWER,
    ) -> RecipientRecord:
        row = RecipientRow(
            name=name, recipient=recipient, key_id=key_id, added_on=today, kind=kind.value
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise RecipientExistsError(name) from None
        return _recipient(row)

    async def remove(self, name: str, today: dt.date) -> RecipientRecord:
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(RecipientRow).where(
                    RecipientRow.name == name, RecipientRow.removed_on.is_(None)
                )
            )
            if row is None:
                raise UnknownRecipientError(name)
            row.removed_on = today
        return _recipient(row)

    async def registered(self, *, include_removed: bool = True) -> list[RecipientRecord]:
        query = select(RecipientRow).order_by(RecipientRow.name)
        if not include_removed:
            query = query.where(RecipientRow.removed_on.is_(None))
        async with self._sessions() as session:
            rows: Sequence[RecipientRow] = (await session.scalars(query)).all()
        return [_recipient(row) for row in rows]

    async def active(self) -> list[RecipientRecord]:
        return await self.registered(include_removed=False)


def _recipient(row: RecipientRow) -> RecipientRecord:
    return RecipientRecord(
        name=row.name,
        recipient=row.recipient,
        key_id=row.key_id,
        added_on=row.added_on,
        removed_on=row.removed_on,
        kind=RecipientKind(row.kind),
    )
