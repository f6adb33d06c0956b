"""Read-only questions the health checks and metrics ask: counts and states, never a row."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import EvidenceDayRow, EvidenceTokenRow, OutboxRow, ReportRow


class HealthQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def ping(self) -> None:
        """Raises if the database cannot be reached."""
        async with self._sessions() as session:
            await session.execute(text("SELECT 1"))

    async def outbox_depth(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(OutboxRow)) or 0)

    async def reports_on(self, day: dt.date) -> int:
        async with self._sessions() as session:
            query = select(func.count()).select_from(ReportRow).where(
                ReportRow.received_day == day
            )
            return int(await session.scalar(query) or 0)

    async def last_anchoring(self) -> dt.datetime | None:
        async with self._sessions() as session:
            moment = await session.scalar(select(func.max(EvidenceTokenRow.gen_time)))
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)  # SQLite returns it naive, in UTC
        return moment

    async def days_awaiting_anchoring(self) -> int:
        anchored = select(EvidenceTokenRow.day).distinct()
        async with self._sessions() as session:
            query = select(func.count()).select_from(EvidenceDayRow).where(
                EvidenceDayRow.day.not_in(anchored)
            )
            return int(await session.scalar(query) or 0)
