"""The audit trail's rows: append-only, each entry naming the hash of the one before."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import AuditRow


class AuditConflict(Exception):
    """Another writer appended the same sequence number first; rebuild the entry and retry."""


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    entry: bytes
    entry_hash: str
    signature: bytes


class AuditRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def last(self) -> AuditRecord | None:
        async with self._sessions() as session:
            row = await session.scalar(select(AuditRow).order_by(AuditRow.seq.desc()).limit(1))
        return None if row is None else _record(row)

    async def append(self, record: AuditRecord) -> None:
        """Insert one entry; the primary key on seq makes concurrent appends collide, not fork."""
        try:
            async with self._sessions.begin() as session:
                session.add(AuditRow(
                    seq=record.seq,
                    entry=record.entry,
                    entry_hash=record.entry_hash,
                    signature=record.signature,
                ))
        except IntegrityError:
            raise AuditConflict() from None

    async def entries(self, *, after: int = 0, limit: int | None = None) -> list[AuditRecord]:
        query = select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq)
        if limit is not None:
            query = query.limit(limit)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_record(row) for row in rows]

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(AuditRow.seq))) or 0)


def _record(row: AuditRow) -> AuditRecord:
    return AuditRecord(row.seq, row.entry, row.entry_hash, row.signature)
