"""Renewals' rows: per channel, a numbered chain of re-timestamped Merkle trees (migration 0017).

Adding renewal n is one INSERT keyed by (channel, n): two workers renewing at once cannot both
add the same number; the loser's IntegrityError reads as "someone renewed just now".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import EvidenceRenewalRow


@dataclass(frozen=True)
class RenewalRecord:
    channel: str
    seq: int
    root: str
    leaves: tuple[str, ...]  # leaf hashes (hex) in tree order
    tsa: str
    response: bytes
    ca_pem: bytes
    gen_time: dt.datetime


class RenewalRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, record: RenewalRecord) -> bool:
        """Store a renewal; False when that channel's number exists already."""
        try:
            async with self._sessions.begin() as session:
                session.add(EvidenceRenewalRow(
                    channel=record.channel, seq=record.seq, root=record.root,
                    leaves=b"".join(bytes.fromhex(h) for h in record.leaves), tsa=record.tsa,
                    response=record.response, ca_pem=record.ca_pem, gen_time=record.gen_time))
        except IntegrityError:
            return False
        return True

    async def chain(self, channel: str) -> list[RenewalRecord]:
        """The channel's renewals, oldest first."""
        query = select(EvidenceRenewalRow).where(
            EvidenceRenewalRow.channel == channel).order_by(EvidenceRenewalRow.seq)
        async with self._sessions() as session:
            return [_record(row) for row in (await session.scalars(query)).all()]


def _record(row: EvidenceRenewalRow) -> RenewalRecord:
    gen_time = row.gen_time if row.gen_time.tzinfo else row.gen_time.replace(tzinfo=dt.UTC)
    leaves = tuple(row.leaves[i:i + 32].hex() for i in range(0, len(row.leaves), 32))
    return RenewalRecord(row.channel, row.seq, row.root, leaves, row.tsa, row.response,
                         row.ca_pem, gen_time)
