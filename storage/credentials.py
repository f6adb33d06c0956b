"""Reviewer API credentials: a name, a role, and the SHA-256 of a random bearer token.

The token is made by the caller (256 random bits) and shown once; only its hash is stored, so a
copy of the database does not let anyone call the API. A fast hash is right here, unlike for
receipt codes: nobody can guess 256 random bits, so there is no dictionary to slow down.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import CredentialRow, Role


class CredentialExistsError(Exception):
    """An active credential already has this name."""


class UnknownCredentialError(LookupError):
    """No active credential has this name."""


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class CredentialRecord:
    """What may be shown about a credential: never the token, never its hash."""

    name: str
    role: Role
    created_on: dt.date
    revoked_on: dt.date | None
    # The one channel whose reports it reaches; None: every channel.
    channel: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_on is None


class CredentialRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(
        self, name: str, role: Role, token: str, today: dt.date, channel: str | None = None
    ) -> CredentialRecord:
        """Store the hash of `token` under `name`; one active credential per name."""
        async with self._sessions.begin() as session:
            clash = await session.scalar(
                select(CredentialRow.id).where(
                    CredentialRow.name == name, CredentialRow.revoked_on.is_(None)
                )
            )
            if clash is not None:
                raise CredentialExistsError(name)
            row = CredentialRow(
                name=name, role=role.value, token_hash=token_hash(token), created_on=today,
                channel=channel,
            )
            session.add(row)
        return _record(row)

    async def find_by_hash(self, digest: bytes) -> CredentialRecord | None:
        """The active credential with this token hash, or None (unknown or revoked)."""
        # An indexed equality lookup on a hash: timing reveals nothing useful, since an attacker
        # cannot choose tokens whose hashes share a prefix with a real one.
        async with self._sessions() as session:
            row = await session.scalar(
                select(CredentialRow).where(
                    CredentialRow.token_hash == digest, CredentialRow.revoked_on.is_(None)
                )
            )
        return None if row is None else _record(row)

    async def authenticate(self, token: str) -> CredentialRecord | None:
        return await self.find_by_hash(token_hash(token))

    async def revoke(
        self, name: str, today: dt.date, *, channel: str | None = None
    ) -> CredentialRecord:
        """Revoke the active credential named `name` (only one of `channel`, when given); it
        stops working at the next request."""
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(CredentialRow).where(
                    CredentialRow.name == name, CredentialRow.revoked_on.is_(None)
                )
            )
            if row is None or (channel is not None and row.channel != channel):
                raise UnknownCredentialError(name)
            row.revoked_on = today
        return _record(row)

    async def registered(
        self, *, include_revoked: bool = True, channel: str | None = None
    ) -> list[CredentialRecord]:
        """Credentials (only those of `channel`, when given)."""
        query = select(CredentialRow).order_by(CredentialRow.name, CredentialRow.id)
        if not include_revoked:
            query = query.where(CredentialRow.revoked_on.is_(None))
        if channel is not None:
            query = query.where(CredentialRow.channel == channel)
        async with self._sessions() as session:
            rows: Sequence[CredentialRow] = (await session.scalars(query)).all()
        return [_record(row) for row in rows]


def _record(row: CredentialRow) -> CredentialRecord:
    return CredentialRecord(
        name=row.name, role=Role(row.role), created_on=row.created_on, revoked_on=row.revoked_on,
        channel=row.channel,
    )
