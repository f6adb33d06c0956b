"""Channels: which partner organisation's intake a report came through (docs/channels.md).

A channel's row is operator configuration (slug, name, settings); it holds no witness data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import ChannelRow
from storage.records import ChannelRecord

# Settings a channel may change after it is made (the slug never changes: links carry it).
CHANNEL_SETTINGS = (
    "name", "questionnaire", "languages", "retention_days", "reviewers_chat_id", "public",
    "bot_token_file", "webhook_secret_file",
)


class ChannelExistsError(Exception):
    """A channel with this slug exists."""


class UnknownChannelError(LookupError):
    """No channel has this slug."""


class ChannelRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, record: ChannelRecord, today: dt.date) -> ChannelRecord:
        row = ChannelRow(slug=record.slug, created_on=today, **channel_settings(record))
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise ChannelExistsError(record.slug) from None
        return _record(row)

    async def get(self, slug: str) -> ChannelRecord | None:
        async with self._sessions() as session:
            row = await session.get(ChannelRow, slug)
        return None if row is None else _record(row)

    async def all(self) -> list[ChannelRecord]:
        async with self._sessions() as session:
            rows: Sequence[ChannelRow] = (
                await session.scalars(select(ChannelRow).order_by(ChannelRow.slug))
            ).all()
        return [_record(row) for row in rows]

    async def update(self, slug: str, **changes: Any) -> ChannelRecord:
        """Change some of CHANNEL_SETTINGS (None resets one to the deployment's setting)."""
        unknown = set(changes) - set(CHANNEL_SETTINGS)
        if unknown:
            raise ValueError(f"not a channel setting: {', '.join(sorted(unknown))}")
        if "languages" in changes and changes["languages"] is not None:
            changes["languages"] = ",".join(changes["languages"])
        async with self._sessions.begin() as session:
            row = await session.get(ChannelRow, slug)
            if row is None:
                raise UnknownChannelError(slug)
            for key, value in changes.items():
                setattr(row, key, value)
        return _record(row)


def channel_settings(record: ChannelRecord) -> dict[str, Any]:
    """A channel's settings, as stored in its row (and as the audit trail records them)."""
    return {
        "name": record.name,
        "questionnaire": record.questionnaire,
        "languages": None if record.languages is None else ",".join(record.languages),
        "retention_days": record.retention_days,
        "reviewers_chat_id": record.reviewers_chat_id,
        "public": record.public,
        "bot_token_file": record.bot_token_file,
        "webhook_secret_file": record.webhook_secret_file,
    }


def _record(row: ChannelRow) -> ChannelRecord:
    return ChannelRecord(
        slug=row.slug,
        name=row.name,
        questionnaire=row.questionnaire,
        languages=None if row.languages is None else tuple(row.languages.split(",")),
        retention_days=row.retention_days,
        reviewers_chat_id=row.reviewers_chat_id,
        public=bool(row.public),
        created_on=row.created_on,
        bot_token_file=row.bot_token_file,
        webhook_secret_file=row.webhook_secret_file,
    )
