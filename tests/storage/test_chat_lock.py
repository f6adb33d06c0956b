"""The per-chat lock: one holder per chat, in one process (SQLite) and across workers
(PostgreSQL advisory locks), released when the holder's connection dies."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import Storage, default_sqlite_url
from storage.locks import advisory_key
from tests.support import fresh_postgres_database

CHAT = "c" * 64
OTHER = "d" * 64
# Long enough for a waiter that is wrongly let in to get in; the tests never wait this long
# when the lock works, except to show that a waiter stays out.
SETTLE = 0.3


async def _enter(storage: Storage, chat: str, entered: asyncio.Event, leave: asyncio.Event) -> None:
    async with storage.chat_lock(chat):
        entered.set()
        await leave.wait()


async def _hold_and_wait(storage: Storage, chat: str) -> tuple[asyncio.Task[None], asyncio.Event]:
    entered, leave = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(_enter(storage, chat, entered, leave))
    await asyncio.wait_for(entered.wait(), 10)
    return task, leave


async def _excludes(first: Storage, second: Storage) -> None:
    holder, release = await _hold_and_wait(first, CHAT)
    entered, leave = asyncio.Event(), asyncio.Event()
    waiter = asyncio.create_task(_enter(second, CHAT, entered, leave))
    # Another chat is not held up by the first one.
    other, other_release = await _hold_and_wait(second, OTHER)
    other_release.set()
    await other
    await asyncio.sleep(SETTLE)
    assert not entered.is_set(), "a second holder entered a held chat"
    release.set()
    await holder
    await asyncio.wait_for(entered.wait(), 10)
    leave.set()
    await waiter


async def test_one_holder_per_chat_in_a_process(storage: Storage) -> None:
    """Two tasks of one process take turns on a chat; other chats go on meanwhile."""
    await _excludes(storage, storage)


async def test_sqlite_locks_are_forgotten_when_free(tmp_path: Path) -> None:
    store = await Storage.open(default_sqlite_url(tmp_path), tmp_path / "blobs")
    try:
        for index in range(50):
            async with store.chat_lock(f"{index:064x}"):
                assert store._locks.held_in_process == 1
        assert store._locks.held_in_process == 0
        with pytest.raises(RuntimeError):
            async with store.chat_lock(CHAT):
                raise RuntimeError("the update failed")
        assert store._locks.held_in_process == 0
        async with store.chat_lock(CHAT):  # still free after a failure inside
            pass
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _two_workers(tmp_path: Path) -> AsyncIterator[tuple[Storage, Storage]]:
    async with fresh_postgres_database() as url:
        first = await Storage.open(url, tmp_path / "blobs")
        second = await Storage.open(url, tmp_path / "blobs", migrate=False)
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()


async def test_two_workers_exclude_each_other_on_postgresql(tmp_path: Path) -> None:
    """Two Storage objects (two engines, as two worker processes have) take turns."""
    async with _two_workers(tmp_path) as (first, second):
        await _excludes(first, second)
        await _excludes(second, first)


async def _holder_pid(storage: Storage, chat: str) -> int:
    key = advisory_key(chat) & 0xFFFF_FFFF_FFFF_FFFF
    async with storage.engine.connect() as connection:
        rows = (await connection.execute(text(
            "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.granted "
            "AND l.classid = :high AND l.objid = :low AND l.objsubid = 1"
        ), {"high": key >> 32, "low": key & 0xFFFF_FFFF})).all()
    assert len(rows) == 1
    return int(rows[0][0])


async def test_a_dead_holder_releases_the_chat(tmp_path: Path) -> None:
    """Killing the holder's database session (a worker killed, a machine lost) frees the chat
    for the other worker at once, and the holder's exit does not fail."""
    async with _two_workers(tmp_path) as (first, second):
        holder, release = await _hold_and_wait(first, CHAT)
        pid = await _holder_pid(second, CHAT)
        entered, leave = asyncio.Event(), asyncio.Event()
        waiter = asyncio.create_task(_enter(second, CHAT, entered, leave))
        await asyncio.sleep(SETTLE)
        assert not entered.is_set()
        async with second.engine.connect() as connection:
            assert await connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await asyncio.wait_for(entered.wait(), 10)
        release.set()
        await holder  # the lost lock is logged, not raised
        leave.set()
        await waiter
        # Both workers can still lock the chat afterwards.
        for store in (first, second):
            async with store.chat_lock(CHAT):
                pass


async def test_a_cancelled_waiter_leaves_no_lock_behind(tmp_path: Path) -> None:
    """A worker cancelled while waiting (shutdown, a time-out) never ends up holding the chat."""
    async with _two_workers(tmp_path) as (first, second):
        holder, release = await _hold_and_wait(first, CHAT)
        waiter = asyncio.create_task(_enter(second, CHAT, asyncio.Event(), asyncio.Event()))
        await asyncio.sleep(SETTLE)
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
        release.set()
        await holder
        async with asyncio.timeout(10):
            async with first.chat_lock(CHAT):
                pass
            async with second.chat_lock(CHAT):
                pass


async def test_workers_starting_together_migrate_in_turn(tmp_path: Path) -> None:
    """Several workers opening a fresh PostgreSQL database at once all come up."""
    async with fresh_postgres_database() as url:
        async with asyncio.timeout(60):
            stores = await asyncio.gather(
                *(Storage.open(url, tmp_path / f"w{n}") for n in range(3))
            )
        try:
            for store in stores:
                assert await store.reports.count() == 0
        finally:
            for store in stores:
                await store.close()


async def _tries(storage: Storage, chat: str) -> bool:
    async with storage.try_chat_lock(chat) as held:
        return held


async def test_trying_a_held_chat_gives_up_at_once(storage: Storage) -> None:
    """The relay on deck tries a chat's lock (storage.try_chat_lock): a chat held in this
    process is refused without waiting, a free one is taken and then free again."""
    holder, release = await _hold_and_wait(storage, CHAT)
    assert await _tries(storage, CHAT) is False
    assert await _tries(storage, OTHER) is True
    release.set()
    await holder
    assert await _tries(storage, CHAT) is True
    await _excludes(storage, storage)  # nothing was left held


async def test_trying_a_chat_another_worker_holds_gives_up_at_once(tmp_path: Path) -> None:
    async with _two_workers(tmp_path) as (first, second):
        holder, release = await _hold_and_wait(first, CHAT)
        assert await _tries(second, CHAT) is False
        release.set()
        await holder
        assert await _tries(second, CHAT) is True
        await _excludes(first, second)  # the try left nothing held
