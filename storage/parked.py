"""Parked updates: sealed updates the poller took over from Telegram before they were done.

Rows are opaque to storage: the update's idempotency mark as key, its JSON sealed with the
draft key, and the day (for the sweep). bot/telegram/parking.py seals and opens them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import ParkedUpdateRow


class ParkedUpdateRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def park(
        self, rows: Sequence[tuple[bytes, bytes]], day: dt.date, *, bot: str | None = None
    ) -> None:
        """Store (update key, sealed update) pairs of one bot (None: the deployment's own); one
        already parked is kept as it is."""
        async with self._sessions.begin() as session:
            known = set((await session.scalars(select(ParkedUpdateRow.update_key).where(
                ParkedUpdateRow.update_key.in_([key for key, _ in rows])
            ))).all())
            session.add_all(
                ParkedUpdateRow(update_key=key, sealed=sealed, day=day, bot=bot)
                for key, sealed in rows if key not in known
            )

    async def all(self, *, bot: str | None = None) -> list[tuple[bytes, bytes, dt.date]]:
        """One bot's parked updates (None: the deployment's own bot's)."""
        of_bot = ParkedUpdateRow.bot.is_(None) if bot is None else ParkedUpdateRow.bot == bot
        async with self._sessions() as session:
            rows = (await session.execute(select(
                ParkedUpdateRow.update_key, ParkedUpdateRow.sealed, ParkedUpdateRow.day
            ).where(of_bot))).all()
        return [(row[0], row[1], row[2]) for row in rows]

    async def unpark(self, keys: Sequence[bytes]) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                delete(ParkedUpdateRow).where(ParkedUpdateRow.update_key.in_(list(keys)))
            )

    async def sweep(self, before: dt.date) -> None:
        """Forget parked updates from before `before` (never processed: beyond Telegram's own
        redelivery window, as their marks are)."""
        async with self._sessions.begin() as session:
            await session.execute(delete(ParkedUpdateRow).where(ParkedUpdateRow.day < before))
