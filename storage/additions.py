"""Appending to a stored report: what a witness adds later with their receipt code."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import ItemRecipientRow, ItemRow, ReportRow
from storage.records import NewItem


class ReportGone(LookupError):
    """The report no longer exists (shredded by retention or at the witness's request)."""


class ManifestChanged(Exception):
    """Someone changed the report's items first; rebuild the manifest and try again."""


class AdditionRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def next_seq(self, report_id: str) -> int:
        async with self._sessions() as session:
            highest = await session.scalar(
                select(func.max(ItemRow.seq)).where(ItemRow.report_id == report_id)
            )
        return int(highest or 0) + 1

    async def append(
        self,
        report_id: str,
        expected_manifest: bytes,
        items: tuple[NewItem, ...],
        manifest: bytes,
        manifest_signature: bytes,
    ) -> None:
        """Add items and swap the custody manifest in one transaction, if nobody changed it."""
        async with self._sessions.begin() as session:
            report = await session.get(ReportRow, report_id, with_for_update=True)
            if report is None:
                raise ReportGone(report_id)
            if report.manifest != expected_manifest:
                raise ManifestChanged()
            for item in items:
                session.add(ItemRow(
                    id=item.item_id,
                    report_id=report_id,
                    seq=item.seq,
                    role=item.role.value,
                    header=item.header,
                    payload_size=item.payload_size,
                    payload_sha256=item.payload_sha256,
                    parent_seq=item.parent_seq,
                    recipients=[ItemRecipientRow(key_id=k) for k in item.recipient_key_ids],
                ))
            report.manifest = manifest
            report.manifest_signature = manifest_signature
