"""Trusted time's rows: day trees, their leaves, RFC 3161 tokens and the timestamping queue.

Building a day is one transaction (the day's row and all its leaves): the primary key on the
day, and on each leaf hash, make a second worker's attempt at the same day fail as a whole
instead of doubling anything. Taking a queued day for a timestamping attempt is a conditional
UPDATE (a lease), so of several workers only one asks the authorities at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    AuditRow,
    EvidenceDayRow,
    EvidenceLeafRow,
    EvidenceTokenRow,
    ItemRow,
    ReportRow,
)


@dataclass(frozen=True)
class LeafRecord:
    leaf_hash: str
    kind: str  # "manifest", "header" (an item's age header) or "audit"
    report_id: str | None = None
    audit_seq: int | None = None


@dataclass(frozen=True)
class TokenRecord:
    tsa: str
    response: bytes
    ca_pem: bytes
    gen_time: dt.datetime


@dataclass(frozen=True)
class DayRecord:
    day: dt.date
    root: str
    leaf_count: int
    attempts: int
    next_attempt: dt.datetime
    last_failure: str | None
    tokens: tuple[TokenRecord, ...] = ()

    @property
    def anchored(self) -> bool:
        return bool(self.tokens)


@dataclass(frozen=True)
class ManifestRow:
    report_id: str
    received_day: dt.date
    manifest: bytes


@dataclass(frozen=True)
class HeaderRow:
    report_id: str
    seq: int
    received_day: dt.date
    header: bytes


@dataclass(frozen=True)
class AuditLeafSource:
    seq: int
    entry: bytes


class EvidenceRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # --- what is still to be anchored ----------------------------------------------------

    async def manifests(self, *, after: str = "", limit: int = 500) -> list[ManifestRow]:
        """Reports' current manifests in id order (a keyset page)."""
        query = (select(ReportRow.id, ReportRow.received_day, ReportRow.manifest)
                 .where(ReportRow.id > after).order_by(ReportRow.id).limit(limit))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [ManifestRow(r[0], r[1], r[2]) for r in rows]

    async def item_headers(
        self, *, after: tuple[str, int] = ("", -1), limit: int = 500
    ) -> list[HeaderRow]:
        """Items' current age headers in (report, seq) order (a keyset page). A header's MAC
        is keyed from its file key, so a timestamped header pins the key its payload opens with."""
        report_id, seq = after
        query = (select(ItemRow.report_id, ItemRow.seq, ReportRow.received_day, ItemRow.header)
                 .join(ReportRow, ReportRow.id == ItemRow.report_id)
                 .where((ItemRow.report_id > report_id)
                        | ((ItemRow.report_id == report_id) & (ItemRow.seq > seq)))
                 .order_by(ItemRow.report_id, ItemRow.seq).limit(limit))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [HeaderRow(r[0], r[1], r[2], r[3]) for r in rows]

    async def known(self, leaf_hashes: Sequence[str]) -> set[str]:
        """Which of these leaf hashes are in some day's tree already."""
        if not leaf_hashes:
            return set()
        query = select(EvidenceLeafRow.leaf_hash).where(
            EvidenceLeafRow.leaf_hash.in_(list(leaf_hashes)))
        async with self._sessions() as session:
            return set((await session.scalars(query)).all())

    async def last_audit_seq(self) -> int:
        async with self._sessions() as session:
            found = await session.scalar(select(func.max(EvidenceLeafRow.audit_seq)))
        return int(found or 0)

    async def audit_entries(self, *, after: int, limit: int = 500) -> list[AuditLeafSource]:
        query = select(AuditRow.seq, AuditRow.entry).where(AuditRow.seq > after).order_by(
            AuditRow.seq).limit(limit)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [AuditLeafSource(r[0], r[1]) for r in rows]

    # --- building and timestamping days --------------------------------------------------

    async def create_day(
        self, day: dt.date, root: str, leaves: Sequence[LeafRecord], first_attempt: dt.datetime
    ) -> bool:
        """Store a day's tree; False when that day (or one of its leaves) is stored already."""
        try:
            async with self._sessions.begin() as session:
                session.add(EvidenceDayRow(
                    day=day, root=root, leaf_count=len(leaves), attempts=0,
                    next_attempt=first_attempt, last_failure=None,
                ))
                await session.flush()
                session.add_all([EvidenceLeafRow(
                    leaf_hash=leaf.leaf_hash, day=day, kind=leaf.kind,
                    report_id=leaf.report_id, audit_seq=leaf.audit_seq,
                ) for leaf in leaves])
        except IntegrityError:
            return False
        return True

    async def claim(self, day: dt.date, now: dt.datetime, lease_until: dt.datetime) -> bool:
        """Take a queued day for one timestamping attempt; False if another worker has it."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(EvidenceDayRow)
                .where(EvidenceDayRow.day == day, EvidenceDayRow.next_attempt <= now)
                .values(next_attempt=lease_until, attempts=EvidenceDayRow.attempts + 1)
            )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def add_token(self, day: dt.date, token: TokenRecord) -> None:
        """Keep an authority's token; a second one for the same day and authority is ignored."""
        try:
            async with self._sessions.begin() as session:
                session.add(EvidenceTokenRow(
                    day=day, tsa=token.tsa, response=token.response, ca_pem=token.ca_pem,
                    gen_time=token.gen_time,
                ))
                await session.execute(update(EvidenceDayRow).where(EvidenceDayRow.day == day)
                                      .values(last_failure=None))
        except IntegrityError:
            return

    async def record_failure(self, day: dt.date, kind: str, next_attempt: dt.datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(EvidenceDayRow).where(EvidenceDayRow.day == day)
                                  .values(last_failure=kind, next_attempt=next_attempt))

    # --- reading -------------------------------------------------------------------------

    async def days(self, *, unanchored_only: bool = False) -> list[DayRecord]:
        async with self._sessions() as session:
            days = (await session.scalars(
                select(EvidenceDayRow).order_by(EvidenceDayRow.day))).all()
            tokens = (await session.scalars(
                select(EvidenceTokenRow).order_by(EvidenceTokenRow.day, EvidenceTokenRow.tsa)
            )).all()
        by_day: dict[dt.date, list[TokenRecord]] = {}
        for t in tokens:
            by_day.setdefault(t.day, []).append(_token(t))
        records = [_day(d, by_day.get(d.day, [])) for d in days]
        return [r for r in records if not (unanchored_only and r.anchored)]

    async def built_days(self) -> set[dt.date]:
        """The days that have a tree (without their tokens: cheap enough for every round)."""
        async with self._sessions() as session:
            return set((await session.scalars(select(EvidenceDayRow.day))).all())

    async def queued_days(self) -> list[DayRecord]:
        """Days with a tree and no token yet, oldest first."""
        anchored = select(EvidenceTokenRow.day).where(EvidenceTokenRow.day == EvidenceDayRow.day)
        query = select(EvidenceDayRow).where(~anchored.exists()).order_by(EvidenceDayRow.day)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_day(row, []) for row in rows]

    async def day(self, day: dt.date) -> DayRecord | None:
        async with self._sessions() as session:
            row = await session.get(EvidenceDayRow, day)
            if row is None:
                return None
            tokens = (await session.scalars(select(EvidenceTokenRow).where(
                EvidenceTokenRow.day == day).order_by(EvidenceTokenRow.tsa))).all()
        return _day(row, [_token(t) for t in tokens])

    async def leaf(self, leaf_hash: str) -> tuple[dt.date, LeafRecord] | None:
        async with self._sessions() as session:
            row = await session.get(EvidenceLeafRow, leaf_hash)
        if row is None:
            return None
        return row.day, LeafRecord(row.leaf_hash, row.kind, row.report_id, row.audit_seq)

    async def leaf_hashes(self, day: dt.date) -> list[str]:
        """The day's leaf hashes in tree order (sorted)."""
        query = select(EvidenceLeafRow.leaf_hash).where(EvidenceLeafRow.day == day).order_by(
            EvidenceLeafRow.leaf_hash)
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every stored one is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _token(row: EvidenceTokenRow) -> TokenRecord:
    return TokenRecord(row.tsa, row.response, row.ca_pem, _aware(row.gen_time))


def _day(row: EvidenceDayRow, tokens: list[TokenRecord]) -> DayRecord:
    return DayRecord(row.day, row.root, row.leaf_count, row.attempts,
                     _aware(row.next_attempt), row.last_failure, tuple(tokens))
