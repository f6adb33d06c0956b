"""Recipients: the reviewers' and the recovery key's public keys, per channel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import DEFAULT_CHANNEL, RecipientKind, RecipientRow
from storage.records import RecipientRecord


class RecipientExistsError(Exception):
    pass


class UnknownRecipientError(Exception):
    pass


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
        channel: str = DEFAULT_CHANNEL,
    ) -> RecipientRecord:
        row = RecipientRow(
            name=name, recipient=recipient, key_id=key_id, added_on=today, kind=kind.value,
            channel=channel,
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

    async def registered(
        self, *, include_removed: bool = True, channel: str | None = None
    ) -> list[RecipientRecord]:
        """Recipients of one channel, or of every channel when `channel` is None."""
        query = select(RecipientRow).order_by(RecipientRow.name)
        if not include_removed:
            query = query.where(RecipientRow.removed_on.is_(None))
        if channel is not None:
            query = query.where(RecipientRow.channel == channel)
        async with self._sessions() as session:
            rows: Sequence[RecipientRow] = (await session.scalars(query)).all()
        return [_recipient(row) for row in rows]

    async def active(self, channel: str | None = None) -> list[RecipientRecord]:
        """Active recipients of one channel (what its reports are sealed to), or of all."""
        return await self.registered(include_removed=False, channel=channel)


def _recipient(row: RecipientRow) -> RecipientRecord:
    return RecipientRecord(
        name=row.name,
        recipient=row.recipient,
        key_id=row.key_id,
        added_on=row.added_on,
        removed_on=row.removed_on,
        kind=RecipientKind(row.kind),
        channel=row.channel,
    )
