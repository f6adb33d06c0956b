"""The audit trail's rows: append-only, each entry naming the hash of the one before.

Beside each entry, in the same transaction, the keys of the reports it concerns (given by the
caller, which knows what an entry means; storage/ does not): `entries_about` reads one report's
entries through them, without reading the rest of the trail. And the entries of each such
report's own chain of custody (`custody_entries`: per report, numbered 1, 2, 3...), which the
caller builds and signs; `custody_chain` reads one report's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import AuditReportRow, AuditRow, CustodyEntryRow, ReportRow

# Bound parameters per query, well under SQLite's and asyncpg's limits.
_KEYS_PER_QUERY = 500


class AuditConflict(Exception):
    """Another writer appended the same sequence number first; rebuild the entry and retry."""


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    entry: bytes
    entry_hash: str
    signature: bytes


@dataclass(frozen=True)
class CustodyRecord:
    """One entry of a report's own chain: `n` counts the report's entries from 1."""

    report_ref: bytes
    n: int
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

    async def append(
        self, record: AuditRecord, *, about: Collection[bytes],
        custody: Sequence[CustodyRecord] = (),
    ) -> None:
        """Insert one entry, indexed under `about` (the keys of the reports it concerns; may be
        empty), with its entries in those reports' own chains. The primary keys on seq and on
        (report, n) make concurrent appends collide, not fork; all of it commits together or
        not at all."""
        try:
            async with self._sessions.begin() as session:
                session.add(AuditRow(
                    seq=record.seq,
                    entry=record.entry,
                    entry_hash=record.entry_hash,
                    signature=record.signature,
                ))
                await session.flush()
                session.add_all(
                    AuditReportRow(report_ref=key, seq=record.seq) for key in sorted(set(about))
                )
                session.add_all(CustodyEntryRow(
                    report_ref=c.report_ref, n=c.n, entry=c.entry, entry_hash=c.entry_hash,
                    signature=c.signature, audit_seq=record.seq,
                ) for c in custody)
        except IntegrityError:
            raise AuditConflict() from None

    async def custody_heads(self, refs: Collection[bytes]) -> dict[bytes, CustodyRecord]:
        """The last entry of each of these reports' own chains (reports without one are left
        out): one grouped query per 500 reports."""
        found: dict[bytes, CustodyRecord] = {}
        ordered = sorted(set(refs))
        async with self._sessions() as session:
            for start in range(0, len(ordered), _KEYS_PER_QUERY):
                chunk = ordered[start:start + _KEYS_PER_QUERY]
                tops = (
                    select(CustodyEntryRow.report_ref, func.max(CustodyEntryRow.n).label("top"))
                    .where(CustodyEntryRow.report_ref.in_(chunk))
                    .group_by(CustodyEntryRow.report_ref)
                    .subquery()
                )
                rows = (await session.scalars(select(CustodyEntryRow).join(
                    tops, (tops.c.report_ref == CustodyEntryRow.report_ref)
                    & (tops.c.top == CustodyEntryRow.n)
                ))).all()
                found.update((bytes(row.report_ref), _custody(row)) for row in rows)
        return found

    async def custody_page(
        self, *, after: tuple[bytes, int] = (b"", 0), limit: int = 1000
    ) -> list[tuple[CustodyRecord, int]]:
        """Every report's chain in (report, n) order, a page at a time, each entry with the
        audit_log entry written with it (for `intake audit verify`)."""
        query = (
            select(CustodyEntryRow)
            .where(tuple_(CustodyEntryRow.report_ref, CustodyEntryRow.n) > tuple_(*after))
            .order_by(CustodyEntryRow.report_ref, CustodyEntryRow.n)
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [(_custody(row), row.audit_seq) for row in rows]

    async def custody_chain(self, report_ref: bytes) -> list[CustodyRecord]:
        """A report's own chain, n = 1, 2, 3..."""
        async with self._sessions() as session:
            rows = (await session.scalars(
                select(CustodyEntryRow)
                .where(CustodyEntryRow.report_ref == report_ref)
                .order_by(CustodyEntryRow.n)
            )).all()
        return [_custody(row) for row in rows]

    async def indexed_hashes(self, refs: Collection[bytes]) -> dict[bytes, list[str]]:
        """For each report, the entry_hash of every audit_log entry indexed under it, in
        trail order (a report's first chain entry names those written before its chain)."""
        found: dict[bytes, list[str]] = {}
        ordered = sorted(set(refs))
        async with self._sessions() as session:
            for start in range(0, len(ordered), _KEYS_PER_QUERY):
                rows = await session.execute(
                    select(AuditReportRow.report_ref, AuditRow.entry_hash)
                    .join(AuditRow, AuditRow.seq == AuditReportRow.seq)
                    .where(AuditReportRow.report_ref.in_(ordered[start:start + _KEYS_PER_QUERY]))
                    .order_by(AuditReportRow.report_ref, AuditReportRow.seq)
                )
                for ref, entry_hash in rows:
                    found.setdefault(bytes(ref), []).append(entry_hash)
        return found

    async def received_days(self, report_ids: Collection[str]) -> dict[str, dt.date]:
        """The day each of these reports arrived (those that still exist)."""
        found: dict[str, dt.date] = {}
        ordered = sorted(set(report_ids))
        async with self._sessions() as session:
            for start in range(0, len(ordered), _KEYS_PER_QUERY):
                rows = await session.execute(
                    select(ReportRow.id, ReportRow.received_day)
                    .where(ReportRow.id.in_(ordered[start:start + _KEYS_PER_QUERY]))
                )
                found.update((report_id, day) for report_id, day in rows)
        return found

    async def entries_about(self, report_ref: bytes) -> list[AuditRecord]:
        """The entries indexed under `report_ref`, in trail order: one range of the index's
        primary key, then each entry by its seq."""
        async with self._sessions() as session:
            rows = (await session.scalars(about_query(report_ref))).all()
        return [_record(row) for row in rows]

    async def entries(self, *, after: int = 0, limit: int | None = None) -> list[AuditRecord]:
        query = select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq)
        if limit is not None:
            query = query.limit(limit)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_record(row) for row in rows]

    async def indexed(
        self, keys: Collection[bytes], *, after: int, up_to: int
    ) -> set[tuple[bytes, int]]:
        """Which rows (key, seq) the index holds for these keys and entries numbered after
        `after` and up to `up_to`: one range of its primary key per key, for `intake audit
        verify` to check a page of entries against."""
        found: set[tuple[bytes, int]] = set()
        ordered = sorted(set(keys))
        async with self._sessions() as session:
            for start in range(0, len(ordered), _KEYS_PER_QUERY):
                query = select(AuditReportRow.report_ref, AuditReportRow.seq).where(
                    AuditReportRow.report_ref.in_(ordered[start:start + _KEYS_PER_QUERY]),
                    AuditReportRow.seq > after,
                    AuditReportRow.seq <= up_to,
                )
                found.update((bytes(key), seq) for key, seq in (await session.execute(query)))
        return found

    async def add_index_rows(self, rows: Collection[tuple[bytes, int]]) -> None:
        """Add rows (key, seq) to the index by report, for entries already in the trail."""
        if rows:
            async with self._sessions.begin() as session:
                session.add_all(AuditReportRow(report_ref=key, seq=seq) for key, seq in rows)

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(AuditRow.seq))) or 0)


def about_query(report_ref: bytes) -> Select[AuditRow]:
    """The entries indexed under `report_ref` (bench/queue_scale.py prints its plan)."""
    return (
        select(AuditRow)
        .join(AuditReportRow, AuditReportRow.seq == AuditRow.seq)
        .where(AuditReportRow.report_ref == report_ref)
        .order_by(AuditReportRow.seq)
    )


def _record(row: AuditRow) -> AuditRecord:
    return AuditRecord(row.seq, row.entry, row.entry_hash, row.signature)


def _custody(row: CustodyEntryRow) -> CustodyRecord:
    return CustodyRecord(
        bytes(row.report_ref), row.n, row.entry, row.entry_hash, row.signature
    )
