"""Telegram's overall sending rate for one bot: at most 30 messages in any one second, spread out.

A leaky bucket of 30 (aiolimiter's `AsyncLimiter(30, 1.0)`, on which python-telegram-bot's
AIORateLimiter is built) lets a full bucket through at once and refills it at 30 a second, so
about 60 calls can land within one second; Telegram answers the excess with 429. Here every
message takes the next slot of an even grid instead (the generic cell rate algorithm with no
burst): slots lie `(1 + margin) / rate` seconds apart, so any `rate + 1` messages span more
than a second. A caller that wakes up too late for its slot (the event loop was busy) takes a
new slot rather than send late, so the calls reach Telegram as spread as they were planned.

One process keeps the grid in memory (`LocalSendBudget`); several webhook workers share one
kept in PostgreSQL (storage/send_budget.py), since Telegram's limits are per bot, not per
worker. A 429 pauses the whole grid for its `retry_after`: no worker sends meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

# Telegram's overall limit for one bot (Bot FAQ: "not more than 30 messages per second or so").
TELEGRAM_MESSAGES_PER_SECOND = 30.0
# Slack on the grid, as a fraction of a second: a call may leave up to LATE_TOLERANCE after
# its slot, and loopback HTTP adds its own jitter; 31 slots then still span more than a second
# wherever Telegram's clock counts from (29.1 messages a second at 30).
SPACING_MARGIN = 0.03
# Slots given up for being woken too late, at most, before a call is sent anyway.
_RETAKES = 1
# How late after its slot a call may still be sent; later, it takes a new slot.
LATE_TOLERANCE = 0.012


def slot_interval(per_second: float) -> float:
    return (1.0 + SPACING_MARGIN) / per_second


class SendBudget(Protocol):
    """The grid of send slots of one bot, however many processes send for it."""

    async def next_slot(self) -> float:
        """Reserve the next free slot; the seconds until it comes (0 or more)."""
        ...

    async def pause(self, seconds: float) -> None:
        """Telegram answered 429: no slot for anyone before `seconds` from now."""
        ...


class LocalSendBudget:
    """The grid in this process's memory: the budget of a single process (SQLite)."""

    def __init__(
        self,
        per_second: float = TELEGRAM_MESSAGES_PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = slot_interval(per_second)
        self._clock = clock
        self._next = 0.0
        self._paused_until = 0.0

    async def next_slot(self) -> float:
        now = self._clock()
        slot = max(self._next, now, self._paused_until)
        self._next = slot + self._interval
        return slot - now

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)


class Pacer:
    """This process's senders take the budget's slots one at a time, in turn.

    Only the sender whose turn it is holds a reservation, so a process never books slots far
    ahead: a sender woken too late for its slot gives it up and takes the next free one (a
    slot later), not one behind every other waiting sender's. With several workers each holds
    at most one reservation, and the grid interleaves them.
    """

    def __init__(self, budget: SendBudget) -> None:
        self.budget = budget
        self._turn = asyncio.Lock()

    async def take(self) -> None:
        """Wait for a slot; return when the call may be made, at its slot."""
        loop = asyncio.get_running_loop()
        async with self._turn:
            for retake in range(_RETAKES + 1):
                # A shared budget answers after a round trip: its clock was read somewhere in
                # between, taken as the middle (a slow answer shows as late; counting from the
                # request instead would make every slot late once round trips pass the
                # tolerance, and no call would ever be sent).
                asked = loop.time()
                wait = await self.budget.next_slot()
                due = (asked + loop.time()) / 2 + wait
                if wait > 0:
                    await asyncio.sleep(wait)
                if loop.time() - due <= LATE_TOLERANCE or retake == _RETAKES:
                    return
                # Woken too late: sending now could bunch this call with the next slots'.
                # Once only: on a machine so busy that every wake-up is late, retaking for
                # ever would send nothing at all; the second slot is sent, late or not.
