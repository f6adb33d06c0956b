"""Sealing items for a report: every part its own age file, to every active recipient.

Shared by first submissions and later additions: an item's payload blob is written and synced
before its header goes to the database, and the custody manifest is rebuilt and re-signed over
all items whenever items are added.

Files are sealed as they arrive: an async producer hands chunks over a bounded bridge to
`crypto.seal`, which reads them like a file in a worker thread. A file is never held whole, and
`WorkSlots` bounds how many files (and other memory-hungry steps) are in flight at once, so
memory stays flat however many witnesses press Send together.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import queue
import secrets
from collections.abc import AsyncIterable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import crypto
from crypto.custody import ManifestEntry, canonical_manifest, sign_manifest
from storage import DEFAULT_CHANNEL, BlobStore, ItemRole, NewItem, Storage, StoredItem

# Files fetched and sealed at once across the whole process. Each costs well under a megabyte
# (a few 64 KiB chunks in flight), except an image kept for its working copy.
DEFAULT_CONCURRENT_FILES = 4
# Chunks queued between the download and the sealing thread: enough to keep both busy.
_BRIDGE_DEPTH = 4

_T = TypeVar("_T")


class NoRecipientsError(Exception):
    """No reviewer recipient is registered, so nothing can be sealed."""

    def __init__(self, channel: str = DEFAULT_CHANNEL) -> None:
        where = "" if channel == DEFAULT_CHANNEL else f" in channel {channel!r}"
        option = "" if channel == DEFAULT_CHANNEL else f" --channel {channel}"
        super().__init__(
            f"no reviewer recipients are registered{where}: run `intake reviewer add{option} "
            "--name NAME --recipient age1...` before accepting reports"
        )


@dataclass
class WorkSlots:
    """How many memory-hungry steps of sealing a report run at once, across the process.

    One instance is shared by everything that seals witness reports in a process, so memory
    stays flat however many witnesses press Send together; the rest wait their turn, which
    costs nothing. `files`: files fetched and sealed at once (each a few 64 KiB chunks in
    flight); a file waits for its slot before its download starts. `images`: images decoded
    for a working copy at once (a few bytes per pixel, far more than a streamed file).
    `scrypts`: threads deriving from receipt codes (16 MiB of scrypt each). These get threads
    of their own because glibc keeps a freed 16 MiB block in the arena of the thread that
    used it: spread over the shared pool's threads, scrypt would pin 16 MiB in each of them.
    """

    files: int = DEFAULT_CONCURRENT_FILES
    images: int = 1
    scrypts: int = 1
    _files: asyncio.Semaphore = field(init=False, repr=False)
    _images: asyncio.Semaphore = field(init=False, repr=False)
    _scrypt_threads: ThreadPoolExecutor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if min(self.files, self.images, self.scrypts) < 1:
            raise ValueError("each limit must allow at least one at a time")
        self._files = asyncio.Semaphore(self.files)
        self._images = asyncio.Semaphore(self.images)
        self._scrypt_threads = ThreadPoolExecutor(self.scrypts, thread_name_prefix="scrypt")

    def file(self) -> asyncio.Semaphore:
        return self._files

    def image(self) -> asyncio.Semaphore:
        return self._images

    async def scrypt(self, derive: Callable[..., _T], *args: Any) -> _T:
        """Run a scrypt-based derivation (crypto.receipts) on the scrypt threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._scrypt_threads, functools.partial(derive, *args))


class _EndOfInput:
    pass


_END = _EndOfInput()


class _Abort(Exception):
    """Raised in the sealing thread when the producer failed or was cancelled."""


class _ChunkReader:
    """The thread side of the bridge: a `read(n)` file over chunks handed across threads.

    The queue itself is unbounded so the event loop never blocks on it; the bound is a
    semaphore of credits the producer must hold for each queued chunk, returned here as each
    chunk is taken.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, credits: asyncio.Semaphore) -> None:
        self._loop = loop
        self._credits = credits
        self.chunks: queue.SimpleQueue[bytes | _EndOfInput | BaseException] = queue.SimpleQueue()
        self._current = memoryview(b"")
        self._ended = False

    def read(self, size: int = -1, /) -> bytes:
        while not self._current and not self._ended:
            item = self.chunks.get()
            if isinstance(item, _EndOfInput):
                self._ended = True
            elif isinstance(item, BaseException):
                raise _Abort() from None
            else:
                self._loop.call_soon_threadsafe(self._credits.release)
                self._current = memoryview(item)
        if size < 0:
            size = len(self._current)
        out = bytes(self._current[:size])
        self._current = self._current[size:]
        return out


@dataclass
class ItemSealer:
    blobs: BlobStore
    recipients: Sequence[crypto.Recipient]
    key_ids: tuple[str, ...]

    @classmethod
    async def for_active_recipients(
        cls, storage: Storage, channel: str = DEFAULT_CHANNEL
    ) -> ItemSealer:
        """A sealer to one channel's active reviewers and its recovery key, and no one else."""
        records = await storage.recipients.active(channel)
        if not records:
            raise NoRecipientsError(channel)
        return cls(
            storage.blobs,
            [crypto.parse_recipient(r.recipient) for r in records],
            tuple(sorted(r.key_id for r in records)),
        )

    async def seal(
        self, seq: int, role: ItemRole, data: bytes, parent_seq: int | None = None
    ) -> NewItem:
        """Seal bytes already in memory (answers, working copies) in a worker thread."""
        return await asyncio.to_thread(self._seal, seq, role, io.BytesIO(data), parent_seq)

    async def seal_stream(
        self,
        seq: int,
        role: ItemRole,
        chunks: AsyncIterable[bytes],
        parent_seq: int | None = None,
    ) -> NewItem:
        """Seal what `chunks` yields, as it comes, never holding more than a few chunks.

        If `chunks` raises, its exception propagates and no blob is left behind; if sealing
        fails, the producer is stopped and the sealing error propagates.
        """
        loop = asyncio.get_running_loop()
        credits = asyncio.Semaphore(_BRIDGE_DEPTH)
        reader = _ChunkReader(loop, credits)
        sealing = asyncio.create_task(
            asyncio.to_thread(self._seal, seq, role, reader, parent_seq)
        )
        acquire: asyncio.Task[Literal[True]] | None = None
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                room = acquire = asyncio.create_task(credits.acquire())
                # Wait for room on the bridge, or for the sealer to fail (a full disk).
                await asyncio.wait({room, sealing}, return_when=asyncio.FIRST_COMPLETED)
                if not room.done():
                    break
                reader.chunks.put(bytes(chunk))
        except BaseException as error:
            # Stops the thread (its blob is discarded) before the error goes on.
            if acquire is not None:
                acquire.cancel()
            reader.chunks.put(error)
            with contextlib.suppress(BaseException):
                await asyncio.shield(sealing)
            raise
        if acquire is not None:
            acquire.cancel()
        reader.chunks.put(_END)
        return await sealing

    def _seal(
        self, seq: int, role: ItemRole, source: io.BytesIO | _ChunkReader, parent_seq: int | None
    ) -> NewItem:
        item_id = secrets.token_hex(16)
        with self.blobs.create(item_id) as blob:
            header = crypto.seal(source, blob, self.recipients)
        return NewItem(
            item_id=item_id,
            seq=seq,
            role=role,
            header=header,
            payload_size=blob.size,
            payload_sha256=blob.sha256_hex,
            recipient_key_ids=self.key_ids,
            parent_seq=parent_seq,
        )

    def discard(self, items: Sequence[NewItem]) -> None:
        for item in items:
            self.blobs.delete(item.item_id)


def signed_manifest(
    custody_key: bytes,
    report_id: str,
    received_day: str,
    items: Sequence[NewItem | StoredItem],
) -> tuple[bytes, bytes]:
    ordered = sorted(items, key=lambda i: i.seq)
    manifest = canonical_manifest(
        report_id,
        received_day,
        [ManifestEntry(i.seq, i.role.value, i.payload_size, i.payload_sha256) for i in ordered],
    )
    return manifest, sign_manifest(custody_key, manifest)
