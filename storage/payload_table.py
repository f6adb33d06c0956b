"""Sealed payloads in PostgreSQL, in chunks: the store every worker on every machine reaches.

Same interface as the directory (`BlobStore`, `BlobWriter`), which stays the default and the
only choice on SQLite. A writer sends its chunks (`payload_chunks`, under a random upload id)
as they fill, so memory per writer stays at one chunk; `commit()` then inserts the one
`payloads` row that names the upload, in its own transaction, so a payload appears whole or not
at all. A crash before that leaves chunks no payload names, which the orphan sweep removes like
a `.tmp-*` file. Payloads written before the switch stay readable from the directory, which is
kept as a read-only (and delete-only) fallback.

The interface is synchronous (`crypto.seal` writes from a worker thread, reviewers' code reads
from threads and from the event loop), so the store runs its own event loop on a thread with its
own small connection pool, and each call blocks on it; calling from the application's event
loop cannot deadlock, and blocks that loop about as long as a file read would.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import secrets
import threading
from collections.abc import Coroutine
from typing import Any, BinaryIO, Final, TypeVar

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.blobs import BlobStore, BlobWriter, check_blob_name
from storage.models import PayloadChunkRow, PayloadRow

DEFAULT_CHUNK_SIZE: Final = 256 * 1024
_READ_AHEAD: Final = 1024 * 1024
_UPLOAD_PREFIX: Final = "upload/"

T = TypeVar("T")


class _LoopThread:
    """An event loop on a daemon thread, for blocking calls into async database code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="intake-payloads", daemon=True
        )
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def call_async(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class PayloadTableStore(BlobStore):
    """`BlobStore` over PostgreSQL tables, falling back to a directory for older payloads."""

    def __init__(
        self,
        database_url: str | URL,
        directory: BlobStore,
        *,
        connections: int = 4,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        # No super().__init__: the directory is made by the fallback store, not here.
        self.root = directory.root
        self.directory = directory
        self.chunk_size = chunk_size
        self._runner = _LoopThread()
        self._engine: AsyncEngine = create_async_engine(
            database_url, pool_size=connections, max_overflow=connections, pool_pre_ping=True
        )

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._runner.call(coroutine)

    async def aclose(self) -> None:
        await self._runner.call_async(self._engine.dispose())
        await asyncio.to_thread(self._runner.stop)

    # --- the BlobStore interface ----------------------------------------------------------

    def create(self, name: str) -> BlobWriter:
        check_blob_name(name)
        return PayloadTableWriter(self, name)

    def open(self, name: str) -> BinaryIO:
        check_blob_name(name)
        found = self.call(self._find(name))
        if found is None:
            return self.directory.open(name)  # raises FileNotFoundError if not there either
        upload_id, chunks = found
        reader = _ChunkReader(self, upload_id, chunks)
        return io.BufferedReader(reader, buffer_size=self.chunk_size)

    def exists(self, name: str) -> bool:
        check_blob_name(name)
        return self.call(self._find(name)) is not None or self.directory.exists(name)

    def size(self, name: str) -> int:
        check_blob_name(name)
        size = self.call(self._size(name))
        return size if size is not None else self.directory.size(name)

    def delete(self, name: str) -> None:
        check_blob_name(name)
        self.call(self._delete(name))
        self.directory.delete(name)

    def names(self) -> list[str]:
        return sorted(set(self.call(self._names())) | set(self.directory.names()))

    def temp_names(self) -> list[str]:
        uploads = [_UPLOAD_PREFIX + upload for upload in self.call(self._unfinished())]
        return sorted(uploads + self.directory.temp_names())

    def delete_temp(self, name: str) -> None:
        if name.startswith(_UPLOAD_PREFIX):
            upload_id = name.removeprefix(_UPLOAD_PREFIX)
            check_blob_name(upload_id)
            self.call(self._delete_chunks(upload_id))
        else:
            self.directory.delete_temp(name)

    # --- SQL, run on the store's own loop -------------------------------------------------

    async def _find(self, name: str) -> tuple[str, int] | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(
                select(PayloadRow.upload_id, PayloadRow.chunks).where(PayloadRow.name == name)
            )).first()
        return None if row is None else (row[0], row[1])

    async def _size(self, name: str) -> int | None:
        async with self._engine.connect() as connection:
            size: int | None = await connection.scalar(
                select(PayloadRow.size).where(PayloadRow.name == name)
            )
        return size

    async def _names(self) -> list[str]:
        async with self._engine.connect() as connection:
            return list((await connection.scalars(select(PayloadRow.name))).all())

    async def _unfinished(self) -> list[str]:
        named = select(PayloadRow.upload_id)
        query = (
            select(PayloadChunkRow.upload_id)
            .distinct()
            .where(PayloadChunkRow.upload_id.not_in(named))
        )
        async with self._engine.connect() as connection:
            return list((await connection.scalars(query)).all())

    async def _delete(self, name: str) -> None:
        async with self._engine.begin() as connection:
            upload_id = await connection.scalar(
                delete(PayloadRow).where(PayloadRow.name == name).returning(PayloadRow.upload_id)
            )
            if upload_id is not None:
                await connection.execute(
                    delete(PayloadChunkRow).where(PayloadChunkRow.upload_id == upload_id)
                )

    async def _delete_chunks(self, upload_id: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(PayloadChunkRow).where(PayloadChunkRow.upload_id == upload_id)
            )

    async def _put_chunk(self, upload_id: str, index: int, data: bytes) -> None:
        async with self._engine.begin() as connection:
            # No need to wait for this chunk to reach disk: `_finish` commits synchronously,
            # and flushing its commit record flushes all the WAL before it, these chunks too.
            await connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
            await connection.execute(
                insert(PayloadChunkRow).values(upload_id=upload_id, idx=index, data=data)
            )

    async def _finish(self, name: str, upload_id: str, size: int, chunks: int) -> None:
        async with self._engine.begin() as connection:
            # The chunks were each committed; check they are all there before naming them.
            stored = await connection.scalar(
                select(func.count()).where(PayloadChunkRow.upload_id == upload_id)
            )
            if stored != chunks:
                raise OSError(f"payload upload incomplete: {stored} of {chunks} chunks stored")
            await connection.execute(
                insert(PayloadRow).values(name=name, upload_id=upload_id, size=size, chunks=chunks)
            )

    async def _chunks(self, upload_id: str, first: int, count: int) -> list[bytes]:
        """Chunks `first` to `first + count - 1`, in order (fewer if some are missing)."""
        async with self._engine.connect() as connection:
            rows = await connection.scalars(
                select(PayloadChunkRow.data)
                .where(
                    PayloadChunkRow.upload_id == upload_id,
                    PayloadChunkRow.idx >= first,
                    PayloadChunkRow.idx < first + count,
                )
                .order_by(PayloadChunkRow.idx)
            )
            return list(rows.all())


class PayloadTableWriter(BlobWriter):
    """Hashes what it is given and sends it in chunks; the payload appears on `commit()`."""

    def __init__(self, store: PayloadTableStore, name: str) -> None:
        # No super().__init__: there is no temporary file.
        self._store = store
        self._name = name
        self._upload_id = secrets.token_hex(16)
        self._buffer = bytearray()
        self._chunks = 0
        self._sha256 = hashlib.sha256()
        self.size = 0
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._done:
            raise ValueError("write to a finished payload")
        self._sha256.update(data)
        self.size += len(data)
        self._buffer += data
        chunk = self._store.chunk_size
        while len(self._buffer) >= chunk:
            self._send(bytes(self._buffer[:chunk]))
            del self._buffer[:chunk]
        return len(data)

    def flush(self) -> None:
        """Nothing to do: full chunks are already sent, and a partial one waits for commit."""

    def _send(self, data: bytes) -> None:
        self._store.call(self._store._put_chunk(self._upload_id, self._chunks, data))
        self._chunks += 1

    def commit(self) -> None:
        if self._buffer:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        self._store.call(
            self._store._finish(self._name, self._upload_id, self.size, self._chunks)
        )
        self._done = True

    def discard(self) -> None:
        self._buffer.clear()
        self._done = True
        self._store.call(self._store._delete_chunks(self._upload_id))


class _ChunkReader(io.RawIOBase):
    """Reads one payload chunk at a time from the table."""

    def __init__(self, store: PayloadTableStore, upload_id: str, chunks: int) -> None:
        super().__init__()
        self._store = store
        self._upload_id = upload_id
        self._chunks = chunks
        self._next = 0
        # One query fetches about 1 MiB: fewer round trips, bounded memory.
        self._per_query = max(1, _READ_AHEAD // store.chunk_size)
        self._fetched: list[bytes] = []
        self._current = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        if not self._current:
            if not self._fetched:
                if self._next >= self._chunks:
                    return 0
                wanted = min(self._per_query, self._chunks - self._next)
                self._fetched = self._store.call(
                    self._store._chunks(self._upload_id, self._next, wanted)
                )
                if len(self._fetched) != wanted:
                    raise FileNotFoundError("the payload was deleted while being read")
                self._fetched.reverse()
            self._next += 1
            self._current = memoryview(self._fetched.pop())
        count = min(len(target), len(self._current))
        target[:count] = self._current[:count]
        self._current = self._current[count:]
        return count
