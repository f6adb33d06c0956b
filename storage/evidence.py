"""Trusted time's rows: trees per channel and day, their leaves, RFC 3161 tokens and the queue.

Each channel's day has its own tree (migration 0013), so a channel's proofs count nothing of
another channel. Building a tree is one transaction (its row and all its leaves): the primary key
on (channel, day), and on each leaf hash, make a second worker's attempt at the same tree fail as
a whole instead of doubling anything. Taking a queued tree for a timestamping attempt is a
conditional UPDATE (a lease), so of several workers only one asks the authorities at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    INSTALLATION_TREE,
    AuditRow,
    CustodyEntryRow,
    EvidenceDayRow,
    EvidenceLeafRow,
    EvidenceTokenRow,
    ItemRow,
    ReportRow,
)

if TYPE_CHECKING:
    from storage.renewals import RenewalRecord


@dataclass(frozen=True)
class LeafRecord:
    leaf_hash: str
    kind: str  # "manifest", "header" (an item's age header) or "audit"
    report_id: str | None = None
    audit_seq: int | None = None
    channel: str = INSTALLATION_TREE


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
    channel: str = INSTALLATION_TREE

    @property
    def anchored(self) -> bool:
        return bool(self.tokens)


@dataclass(frozen=True)
class ManifestRow:
    report_id: str
    received_day: dt.date
    manifest: bytes
    channel: str = INSTALLATION_TREE


@dataclass(frozen=True)
class HeaderRow:
    report_id: str
    seq: int
    received_day: dt.date
    header: bytes
    channel: str = INSTALLATION_TREE


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
        query = (select(ReportRow.id, ReportRow.received_day, ReportRow.manifest,
                        ReportRow.channel)
                 .where(ReportRow.id > after).order_by(ReportRow.id).limit(limit))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [ManifestRow(r[0], r[1], r[2], r[3]) for r in rows]

    async def report_channels(self, report_ids: Sequence[str]) -> dict[str, str]:
        """The channel of each of these reports that still exists."""
        found: dict[str, str] = {}
        ordered = sorted(set(report_ids))
        async with self._sessions() as session:
            # 500 at a time: a page of batch entries can name many thousands of reports.
            for start in range(0, len(ordered), 500):
                query = select(ReportRow.id, ReportRow.channel).where(
                    ReportRow.id.in_(ordered[start:start + 500]))
                found.update((r[0], r[1]) for r in (await session.execute(query)).all())
        return found

    async def item_headers(
        self, *, after: tuple[str, int] = ("", -1), limit: int = 500
    ) -> list[HeaderRow]:
        """Items' current age headers in (report, seq) order (a keyset page). A header's MAC
        is keyed from its file key, so a timestamped header pins the key its payload opens with."""
        report_id, seq = after
        query = (select(ItemRow.report_id, ItemRow.seq, ReportRow.received_day, ItemRow.header,
                        ReportRow.channel)
                 .join(ReportRow, ReportRow.id == ItemRow.report_id)
                 .where((ItemRow.report_id > report_id)
                        | ((ItemRow.report_id == report_id) & (ItemRow.seq > seq)))
                 .order_by(ItemRow.report_id, ItemRow.seq).limit(limit))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [HeaderRow(r[0], r[1], r[2], r[3], r[4]) for r in rows]

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

    async def custody_entries_of(self, seqs: Sequence[int]) -> dict[int, list[bytes]]:
        """The entries of reports' own chains written with these audit_log entries: leaves of
        the same day's tree, so a bundle's chain entries carry their inclusion proofs."""
        found: dict[int, list[bytes]] = {}
        if not seqs:
            return found
        query = select(CustodyEntryRow.audit_seq, CustodyEntryRow.entry).where(
            CustodyEntryRow.audit_seq.in_(sorted(set(seqs))))
        async with self._sessions() as session:
            for seq, entry in (await session.execute(query)).all():
                found.setdefault(seq, []).append(entry)
        return found

    # --- building and timestamping days --------------------------------------------------

    async def create_day(
        self, day: dt.date, root: str, leaves: Sequence[LeafRecord], first_attempt: dt.datetime,
        channel: str = INSTALLATION_TREE,
    ) -> bool:
        """Store a channel's tree of a day; False when it (or one of its leaves) exists already."""
        try:
            async with self._sessions.begin() as session:
                session.add(EvidenceDayRow(
                    channel=channel, day=day, root=root, leaf_count=len(leaves), attempts=0,
                    next_attempt=first_attempt, last_failure=None,
                ))
                await session.flush()
                session.add_all([EvidenceLeafRow(
                    leaf_hash=leaf.leaf_hash, channel=channel, day=day, kind=leaf.kind,
                    report_id=leaf.report_id, audit_seq=leaf.audit_seq,
                ) for leaf in leaves])
        except IntegrityError:
            return False
        return True

    async def claim(
        self, day: dt.date, now: dt.datetime, lease_until: dt.datetime,
        channel: str = INSTALLATION_TREE,
    ) -> bool:
        """Take a queued tree for one timestamping attempt; False if another worker has it."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(EvidenceDayRow)
                .where(EvidenceDayRow.channel == channel, EvidenceDayRow.day == day,
                       EvidenceDayRow.next_attempt <= now)
                .values(next_attempt=lease_until, attempts=EvidenceDayRow.attempts + 1)
            )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def add_token(
        self, day: dt.date, token: TokenRecord, channel: str = INSTALLATION_TREE
    ) -> None:
        """Keep an authority's token; a second one for the same tree and authority is ignored."""
        try:
            async with self._sessions.begin() as session:
                session.add(EvidenceTokenRow(
                    channel=channel, day=day, tsa=token.tsa, response=token.response,
                    ca_pem=token.ca_pem, gen_time=token.gen_time,
                ))
                await session.execute(update(EvidenceDayRow).where(
                    EvidenceDayRow.channel == channel, EvidenceDayRow.day == day)
                    .values(last_failure=None))
        except IntegrityError:
            return

    async def record_failure(
        self, day: dt.date, kind: str, next_attempt: dt.datetime,
        channel: str = INSTALLATION_TREE,
    ) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(EvidenceDayRow).where(
                EvidenceDayRow.channel == channel, EvidenceDayRow.day == day)
                .values(last_failure=kind, next_attempt=next_attempt))

    # --- reading -------------------------------------------------------------------------

    async def days(self, *, unanchored_only: bool = False) -> list[DayRecord]:
        async with self._sessions() as session:
            days = (await session.scalars(
                select(EvidenceDayRow).order_by(EvidenceDayRow.day, EvidenceDayRow.channel))).all()
            tokens = (await session.scalars(
                select(EvidenceTokenRow).order_by(EvidenceTokenRow.day, EvidenceTokenRow.tsa)
            )).all()
        by_tree: dict[tuple[str, dt.date], list[TokenRecord]] = {}
        for t in tokens:
            by_tree.setdefault((t.channel, t.day), []).append(_token(t))
        records = [_day(d, by_tree.get((d.channel, d.day), [])) for d in days]
        return [r for r in records if not (unanchored_only and r.anchored)]

    async def built_days(self) -> set[dt.date]:
        """The days that have a tree of any channel."""
        return {day for _, day in await self.built_trees()}

    async def built_trees(self) -> set[tuple[str, dt.date]]:
        """(channel, day) of every tree (without tokens: cheap enough for every round)."""
        async with self._sessions() as session:
            rows = (await session.execute(
                select(EvidenceDayRow.channel, EvidenceDayRow.day))).all()
        return {(r[0], r[1]) for r in rows}

    async def queued_days(self) -> list[DayRecord]:
        """Days with a tree and no token yet, oldest first."""
        anchored = select(EvidenceTokenRow.day).where(
            EvidenceTokenRow.channel == EvidenceDayRow.channel,
            EvidenceTokenRow.day == EvidenceDayRow.day)
        query = select(EvidenceDayRow).where(~anchored.exists()).order_by(
            EvidenceDayRow.day, EvidenceDayRow.channel)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_day(row, []) for row in rows]

    async def day(self, day: dt.date, channel: str = INSTALLATION_TREE) -> DayRecord | None:
        async with self._sessions() as session:
            row = await session.get(EvidenceDayRow, (channel, day))
            if row is None:
                return None
            tokens = (await session.scalars(select(EvidenceTokenRow).where(
                EvidenceTokenRow.channel == channel, EvidenceTokenRow.day == day
            ).order_by(EvidenceTokenRow.tsa))).all()
        return _day(row, [_token(t) for t in tokens])

    async def leaf(self, leaf_hash: str) -> tuple[dt.date, LeafRecord] | None:
        async with self._sessions() as session:
            row = await session.get(EvidenceLeafRow, leaf_hash)
        if row is None:
            return None
        return row.day, LeafRecord(row.leaf_hash, row.kind, row.report_id, row.audit_seq,
                                   row.channel)

    async def renewal_chain(self, channel: str) -> list[RenewalRecord]:
        """The channel's renewals, oldest first (storage/renewals.py)."""
        from storage.renewals import RenewalRepository

        return await RenewalRepository(self._sessions).chain(channel)

    async def leaf_hashes(self, day: dt.date, channel: str = INSTALLATION_TREE) -> list[str]:
        """The tree's leaf hashes in tree order (sorted)."""
        query = select(EvidenceLeafRow.leaf_hash).where(
            EvidenceLeafRow.channel == channel, EvidenceLeafRow.day == day
        ).order_by(EvidenceLeafRow.leaf_hash)
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every stored one is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _token(row: EvidenceTokenRow) -> TokenRecord:
    return TokenRecord(row.tsa, row.response, row.ca_pem, _aware(row.gen_time))


def _day(row: EvidenceDayRow, tokens: list[TokenRecord]) -> DayRecord:
    return DayRecord(row.day, row.root, row.leaf_count, row.attempts,
                     _aware(row.next_attempt), row.last_failure, tuple(tokens), row.channel)
