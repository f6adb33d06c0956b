"""One chat at a time: a per-chat lock that holds across worker processes on PostgreSQL.

Within a process, tasks for the same chat queue on an `asyncio.Lock` (made on first use and
dropped when nobody holds or waits for it). On PostgreSQL the holder then also takes a
session-level advisory lock on a 64-bit hash of the chat key, on a connection of its own taken
from a separate small pool and kept for as long as the lock is held. PostgreSQL releases the
lock when that connection ends, so a worker that dies (kill -9, a lost machine) frees its chats
as soon as the server notices the connection is gone. SQLite is the one-process default: the
in-process lock is all there is.

If the lock's connection dies while the holder is still working (the server restarted, an
administrator ended it), another worker may take the chat before the holder finishes; the
update's idempotency mark and the unique (chat_key, seq) of the outbox keep that from writing
anything twice, but the two could interleave messages. That is logged as `chat_lock.lost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("intake.storage")

_LOCK = text("SELECT pg_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


def advisory_key(chat_key: str) -> int:
    """The signed 64-bit PostgreSQL advisory lock key of a chat."""
    digest = hashlib.sha256(b"incident-intake/chat-lock/" + chat_key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass
class _LocalLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class ChatLocks:
    """`locks.hold(chat_key)`: an async context manager held while one update is processed."""

    def __init__(self, lock_engine: AsyncEngine | None = None) -> None:
        # A separate pool: lock holders never starve the pool their transactions need.
        self._engine = lock_engine
        self._local: dict[str, _LocalLock] = {}

    @property
    def held_in_process(self) -> int:
        """How many chats have a holder or a waiter in this process (for tests and metrics)."""
        return len(self._local)

    @contextlib.asynccontextmanager
    async def hold(self, chat_key: str) -> AsyncIterator[None]:
        async with self._in_process(chat_key):
            if self._engine is None:
                yield
            else:
                async with self._advisory(self._engine, chat_key):
                    yield

    @contextlib.asynccontextmanager
    async def _in_process(self, chat_key: str) -> AsyncIterator[None]:
        entry = self._local.get(chat_key)
        if entry is None:
            entry = self._local[chat_key] = _LocalLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._local[chat_key]

    @contextlib.asynccontextmanager
    async def _advisory(self, engine: AsyncEngine, chat_key: str) -> AsyncIterator[None]:
        key = advisory_key(chat_key)
        connection = await engine.connect()
        try:
            # Autocommit: no transaction stays open ("idle in transaction") while the lock is
            # held; a session-level advisory lock does not need one.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(_LOCK, {"key": key})
        except BaseException:
            # Cancelled or failed while waiting: the server may still grant the lock to this
            # session, so end the session instead of returning it to the pool.
            await _discard(connection)
            raise
        try:
            yield
        finally:
            await _release(connection, key)


async def _release(connection: AsyncConnection, key: int) -> None:
    try:
        released = await connection.scalar(_UNLOCK, {"key": key})
    except Exception:
        # The connection died while held (and PostgreSQL dropped the lock with it).
        log.warning("chat_lock.lost")
        await _discard(connection)
        return
    except BaseException:
        await _discard(connection)
        raise
    if released is not True:
        log.warning("chat_lock.lost")
        await _discard(connection)
        return
    await connection.close()


async def _discard(connection: AsyncConnection) -> None:
    """Close the session for good: PostgreSQL drops its advisory locks with it."""
    with contextlib.suppress(Exception):
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()
