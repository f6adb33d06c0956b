"""Flood control per witness, keyed by a pseudonym that changes every day.

A token bucket per pseudonym: short bursts pass (albums, quick answers), a flood does not. The
pseudonym is a keyed hash of the chat id under a key that lives only in memory and is replaced
daily, so even this process cannot link yesterday's counters to today's.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from crypto.receipts import pseudonym

_DAY = 86_400


@dataclass(slots=True)  # one per witness seen today: no __dict__ each (bench/drafts_memory.py)
class _Bucket:
    tokens: float
    updated: float
    warned: bool = False
    # The language the witness uses here, as last processed: the notice to slow down is said in
    # it without opening the chat's sealed state (a flood must not reach the database).
    language: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # True once per flood: tell the witness to slow down, then stay quiet.
    warn: bool = False
    # The witness's language in this chat today, if an update of theirs was processed.
    language: str | None = None


class FloodControl:
    def __init__(
        self,
        *,
        burst: int = 30,
        per_second: float = 1.0,
        reports_per_day: int = 10,
        code_attempts_per_day: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._burst = burst
        self._rate = per_second
        self._reports_per_day = reports_per_day
        self._code_attempts_per_day = code_attempts_per_day
        self._clock = clock
        self._day = -1
        self._key = b""
        self._buckets: dict[str, _Bucket] = {}
        self._reports: dict[str, int] = {}
        self._code_attempts: dict[str, int] = {}

    def pseudonym(self, chat_id: int) -> str:
        day = int(self._clock() // _DAY)
        if day != self._day:
            # A new day: a new key, and yesterday's counters are dropped with it.
            self._day, self._key = day, secrets.token_bytes(32)
            self._buckets.clear()
            self._reports.clear()
            self._code_attempts.clear()
        return pseudonym(self._key, chat_id)

    def message(self, chat_id: int) -> Decision:
        key = self.pseudonym(chat_id)
        now = self._clock()
        bucket = self._buckets.setdefault(key, _Bucket(float(self._burst), now))
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            # The notice is said again only once the bucket has refilled well past a trickle:
            # a flood that merely pauses for a second is the same flood.
            if bucket.tokens >= self._burst / 2:
                bucket.warned = False
            return Decision(True)
        warn = not bucket.warned
        bucket.warned = True
        return Decision(False, warn=warn, language=bucket.language)

    def note_language(self, chat_id: int, language: str) -> None:
        """The language a processed update left the chat in (chosen, or Telegram's)."""
        bucket = self._buckets.get(self.pseudonym(chat_id))
        if bucket is not None:
            bucket.language = language

    def may_submit(self, chat_id: int) -> bool:
        return self._reports.get(self.pseudonym(chat_id), 0) < self._reports_per_day

    def submitted(self, chat_id: int) -> None:
        key = self.pseudonym(chat_id)
        self._reports[key] = self._reports.get(key, 0) + 1

    def may_try_code(self, chat_id: int) -> bool:
        """Receipt-code guesses are limited per chat and day, on top of scrypt's cost."""
        key = self.pseudonym(chat_id)
        self._code_attempts[key] = self._code_attempts.get(key, 0) + 1
        return self._code_attempts[key] <= self._code_attempts_per_day
