"""Whole transactions in one hop: how the hot path of every update reaches the database.

SQLAlchemy's asyncio layer turns every statement into several awaits on the driver. With
aiosqlite each is a hop to SQLite's thread and back (the cursor, the statement, its rows, the
cursor's close: about four a statement, and one more to commit), and under a surge of witnesses
those hops cost more CPU than the conversation itself (bench/intake_load.py --profile). Here a
transaction is written as one synchronous function of a SQLAlchemy Core `Connection` and run
whole:

- an SQLite file: on one thread of its own, through a synchronous engine on the same file with
  the same pragmas (WAL, synchronous=FULL): one hop per transaction, whatever it holds. SQLite
  serialises writers on the file, as it does between the async engine's own connections.
- PostgreSQL (asyncpg has no thread to hop to) and an in-memory SQLite database (which only the
  async engine's connection can see): `AsyncConnection.run_sync`, one greenlet per transaction;
  each statement is still a round trip to the server, so the hot path keeps them few.

A transaction is committed when `write` returns and rolled back if its function raises. As with
any database call, a caller cancelled while the thread works does not stop it: the transaction
then commits or not, and the caller cannot tell, which the idempotency marks are there for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
Work = Callable[[Connection], T]
# Runs on every new DB-API connection of the synchronous engine (SQLite's pragmas).
OnConnect = Callable[[Any, Any], None]


class Transactions:
    """`await transactions.read(work)` / `write(work)`: `work(connection)` as one transaction."""

    def __init__(self, engine: AsyncEngine, *, on_connect: OnConnect | None = None) -> None:
        self._engine = engine
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            # One connection, used by one thread only: SQLite has one writer at a time anyway.
            self._sync = create_engine(url.set(drivername="sqlite+pysqlite"),
                                       pool_size=1, max_overflow=0)
            if on_connect is not None:
                event.listen(self._sync, "connect", on_connect)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="intake-sqlite")

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    async def read(self, work: Work[T]) -> T:
        """Run `work` on a connection and roll back whatever it left open."""
        if self._sync is None:
            async with self._engine.connect() as connection:
                return await connection.run_sync(work)
        return await asyncio.get_running_loop().run_in_executor(self._open(), self._read, work)

    async def write(self, work: Work[T]) -> T:
        """Run `work` in a transaction: committed if it returns, rolled back if it raises."""
        if self._sync is None:
            async with self._engine.begin() as connection:
                return await connection.run_sync(work)
        return await asyncio.get_running_loop().run_in_executor(self._open(), self._write, work)

    def _open(self) -> ThreadPoolExecutor:
        if self._thread is None:
            raise RuntimeError("the storage is closed")
        return self._thread

    def _read(self, work: Work[T]) -> T:
        assert self._sync is not None
        with self._sync.connect() as connection:
            return work(connection)

    def _write(self, work: Work[T]) -> T:
        assert self._sync is not None
        with self._sync.begin() as connection:
            return work(connection)

    async def close(self) -> None:
        """Let the transaction under way finish, then close the thread and its connection."""
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.shutdown)
        if self._sync is not None:
            self._sync.dispose()
