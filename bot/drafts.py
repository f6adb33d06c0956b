"""Drafts in memory, keyed by a pseudonym of the chat, forgotten after an idle time.

Nothing here ever touches disk: a draft that the witness abandons simply expires. A restart
loses drafts, which is the intended trade: an unsent report leaves no trace on the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.core import Draft

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    draft: T
    last_active: float


class SessionStore(Generic[T]):
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry[T]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, key: str) -> asyncio.Lock:
        """One lock per chat, so a witness's messages are handled in order."""
        return self._locks.setdefault(key, asyncio.Lock())

    def get(self, key: str) -> T | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() - entry.last_active > self._ttl:
            del self._entries[key]
            return None
        return entry.draft

    def put(self, key: str, draft: T) -> None:
        self._entries[key] = _Entry(draft, self._clock())

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)

    def sweep(self) -> int:
        """Forget every expired draft; returns how many were forgotten."""
        now = self._clock()
        expired = [k for k, e in self._entries.items() if now - e.last_active > self._ttl]
        for key in expired:
            del self._entries[key]
        for key in [k for k, lock in self._locks.items() if k not in self._entries
                    and not lock.locked()]:
            del self._locks[key]
        return len(expired)

    def __len__(self) -> int:
        return len(self._entries)


DraftStore = SessionStore[Draft]
