"""Orphan payloads: blobs no item row refers to, removed once they have stayed so for a while.

A payload is written and synced before the row that refers to it is committed (storage/blobs.py),
so a crash in between leaves a blob nobody points at, and so does a `.tmp-*` file from a crash
mid-write. Such a blob is ciphertext only, but it is still a trace of a report that was never
stored. A blob on its way to being committed looks exactly the same, so a blob is deleted only
after it has been seen unreferenced for at least `grace`. File times cannot tell us how old a
blob is (they are blurred to the day), so the sweeper remembers when it first saw each
candidate, in memory: a restart starts the clock again, which only delays deletion.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.blobs import BlobStore
from storage.models import ItemRow

log = logging.getLogger("intake.storage")

_QUERY_CHUNK = 500


class OrphanSweeper:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._clock = clock
        # Blob or temporary file name -> when this process first saw it unreferenced.
        self._first_seen: dict[str, float] = {}

    async def sweep(self, grace: dt.timedelta) -> int:
        """Delete payloads unreferenced for at least `grace` (0: at once); return how many.

        `grace=0` is only safe when no submission is in flight (tests, a single process
        starting up): a blob whose row is about to be committed would be deleted too.
        """
        # List the files before asking the database: a blob whose row commits in between is
        # then found referenced, never the other way round.
        names, temps = await asyncio.to_thread(self._list)
        referenced = await self._referenced(names)
        candidates = [n for n in names if n not in referenced] + temps
        now = self._clock()
        seen = {name: self._first_seen.get(name, now) for name in candidates}
        self._first_seen = seen
        due = [name for name, first in seen.items() if now - first >= grace.total_seconds()]
        if due:
            await asyncio.to_thread(self._delete, due)
            for name in due:
                del self._first_seen[name]
            log.info("payload.orphans_swept", extra={"count": len(due)})
        return len(due)

    @property
    def waiting(self) -> int:
        """How many unreferenced payloads are waiting out their grace period."""
        return len(self._first_seen)

    def _list(self) -> tuple[list[str], list[str]]:
        return self._blobs.names(), self._blobs.temp_names()

    def _delete(self, names: Sequence[str]) -> None:
        for name in names:
            if "/" in name:
                self._blobs.delete_temp(name)
            else:
                self._blobs.delete(name)

    async def _referenced(self, names: Sequence[str]) -> set[str]:
        found: set[str] = set()
        async with self._sessions() as session:
            for start in range(0, len(names), _QUERY_CHUNK):
                chunk = list(names[start : start + _QUERY_CHUNK])
                found.update(
                    (await session.scalars(select(ItemRow.id).where(ItemRow.id.in_(chunk)))).all()
                )
        return found
