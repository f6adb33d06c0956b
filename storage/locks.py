"""One chat at a time: a per-chat lock that holds across worker processes on PostgreSQL.

Within a process, tasks for the same chat queue on an `asyncio.Lock` (made on first use and
dropped when nobody holds or waits for it). On PostgreSQL the holder then also takes a
session-level advisory lock on a 64-bit hash of the chat key. All of a worker's chat locks are
held on one connection of its own (`pg_try_advisory_lock`, one statement at a time on it, tried
again after a short wait while another worker holds the chat): a worker busy with a hundred
chats holds one connection for their locks, not a hundred, so eight workers fit PostgreSQL's
default `max_connections`. PostgreSQL releases the locks when that connection ends, so a worker
that dies (kill -9, a lost machine) frees its chats as soon as the server notices the connection
is gone. SQLite is the one-process default: the in-process lock is all there is.

If the lock connection dies while holders are still working (the server restarted, an
administrator ended it), another worker may take their chats before they finish; the update's
idempotency mark and the unique (chat_key, seq) of the outbox keep that from writing anything
twice, but the two could interleave messages. That is logged as `chat_lock.lost`, and the next
lock is taken on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("intake.storage")

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
# While another worker holds a chat: try again after this long, doubling up to the ceiling.
_RETRY_FIRST = 0.005
_RETRY_CEILING = 0.1


def advisory_key(chat_key: str) -> int:
    """The signed 64-bit PostgreSQL advisory lock key of a chat."""
    digest = hashlib.sha256(b"incident-intake/chat-lock/" + chat_key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass
class _LocalLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class _LockSession:
    """One connection holding every chat lock of this worker, one statement at a time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._turn = asyncio.Lock()
        # Bumped whenever the connection is replaced: locks taken on an older one are gone.
        self.generation = 0

    async def _statement(self, query: TextClause, key: int) -> tuple[object, int]:
        async with self._turn:
            if self._connection is None:
                connection = await self._engine.connect()
                # Autocommit: no transaction stays open ("idle in transaction") while locks
                # are held; session-level advisory locks do not need one.
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                self._connection = connection
            try:
                return await self._connection.scalar(query, {"key": key}), self.generation
            except BaseException:
                # Failed, or cancelled half-way: the server may or may not have run it, so end
                # the session (PostgreSQL drops its locks with it) and start a new one.
                connection, self._connection = self._connection, None
                self.generation += 1
                await _discard(connection)
                raise

    async def try_lock(self, key: int) -> int | None:
        """The lock's generation if taken, None if another session holds it."""
        taken, generation = await self._statement(_TRY_LOCK, key)
        return generation if taken is True else None

    async def unlock(self, key: int, generation: int) -> None:
        if generation != self.generation:
            log.warning("chat_lock.lost")  # its connection died while the chat was held
            return
        try:
            released, now = await self._statement(_UNLOCK, key)
        except Exception:
            log.warning("chat_lock.lost")
            return
        if released is not True or now != generation:
            log.warning("chat_lock.lost")

    async def close(self) -> None:
        async with self._turn:
            if self._connection is not None:
                await self._connection.close()
                self._connection = None


class ChatLocks:
    """`locks.hold(chat_key)`: an async context manager held while one update is processed."""

    def __init__(self, lock_engine: AsyncEngine | None = None) -> None:
        # A connection apart: lock holders never starve the pool their transactions need.
        self._session = _LockSession(lock_engine) if lock_engine is not None else None
        self._local: dict[str, _LocalLock] = {}

    @property
    def held_in_process(self) -> int:
        """How many chats have a holder or a waiter in this process (for tests and metrics)."""
        return len(self._local)

    @contextlib.asynccontextmanager
    async def hold(self, chat_key: str) -> AsyncIterator[None]:
        async with self._in_process(chat_key):
            if self._session is None:
                yield
            else:
                async with self._advisory(self._session, chat_key):
                    yield

    @contextlib.asynccontextmanager
    async def try_hold(self, chat_key: str) -> AsyncIterator[bool]:
        """Hold the chat's lock if nobody holds or waits for it, in this process or another:
        True; else False at once. For a sender that must not wait for a chat while it holds
        a place others wait for (the relay's place on deck, bot/telegram/send_budget.py)."""
        if chat_key in self._local:
            yield False
            return
        async with self._in_process(chat_key):  # free: taken without waiting
            if self._session is None:
                yield True
                return
            key = advisory_key(chat_key)
            generation = await _try_take(self._session, key)
            if generation is None:
                yield False
                return
            try:
                yield True
            finally:
                await self._session.unlock(key, generation)

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
    async def _advisory(self, session: _LockSession, chat_key: str) -> AsyncIterator[None]:
        key = advisory_key(chat_key)
        generation = await _take(session, key)
        try:
            yield
        finally:
            await session.unlock(key, generation)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def _take(session: _LockSession, key: int) -> int:
    """Wait until this worker's session holds the chat's lock; its generation."""
    wait = _RETRY_FIRST
    while True:
        generation = await _try_take(session, key)
        if generation is not None:
            return generation
        await asyncio.sleep(wait)
        wait = min(_RETRY_CEILING, wait * 2)


async def _try_take(session: _LockSession, key: int) -> int | None:
    """One try: the lock's generation if this worker's session took it, else None."""
    attempt = asyncio.ensure_future(session.try_lock(key))
    try:
        return await asyncio.shield(attempt)
    except asyncio.CancelledError:
        # Cancelled while the statement ran: if it took the lock, give it back.
        attempt.add_done_callback(functools.partial(_give_back, session, key))
        raise


# Give-backs under way (a task must be referenced until it is done).
_RETURNING: set[asyncio.Future[None]] = set()


def _give_back(session: _LockSession, key: int, attempt: asyncio.Future[int | None]) -> None:
    if attempt.cancelled() or attempt.exception() is not None:
        return
    generation = attempt.result()
    if generation is not None:
        task = asyncio.ensure_future(session.unlock(key, generation))
        _RETURNING.add(task)
        task.add_done_callback(_RETURNING.discard)


async def _discard(connection: AsyncConnection | None) -> None:
    """Close the session for good: PostgreSQL drops its advisory locks with it."""
    if connection is None:
        return
    with contextlib.suppress(Exception):
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()
