"""Telegram's overall sending rate for one bot: at most 30 messages in any one second, spread out.

A leaky bucket of 30 (aiolimiter's `AsyncLimiter(30, 1.0)`, on which python-telegram-bot's
AIORateLimiter is built) lets a full bucket through at once and refills it at 30 a second, so
about 60 calls can land within one second; Telegram answers the excess with 429. Here every
message takes the next slot of an even grid instead (the generic cell rate algorithm with no
burst): slots lie `(1 + margin) / rate` seconds apart, so any `rate + 1` messages span more
than a second. A caller woken late for its slot (the event loop was busy, or the relay's
check under the chat's lock took a while) must not bunch with the next slots' calls. With a
budget of this process alone, the pacer also keeps the send times of the last `rate` messages
and sends late only while the last `(1 + margin)` seconds hold fewer than `rate`: a slot missed
by a late wake-up is used, not lost, and no second ever holds more than `rate` as counted here
(a request then waiting for a free Bot API connection leaves later than counted). With a budget
shared by workers, whose sends it cannot see, a caller that wakes too late takes a new slot.

One process keeps the grid in memory (`LocalSendBudget`); several webhook workers share one
kept in PostgreSQL (storage/send_budget.py), since Telegram's limits are per bot, not per
worker. A 429 pauses the whole grid for its `retry_after`: no worker sends meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

# Telegram's overall limit for one bot (Bot FAQ: "not more than 30 messages per second or so").
TELEGRAM_MESSAGES_PER_SECOND = 30.0
# Slack on the grid, as a fraction of a second: a call may leave up to LATE_TOLERANCE after
# its slot, a late one may go on a slot it missed, and the way to Telegram bunches calls up
# (a busy event loop at either end); 31 slots then still span more than a second wherever
# Telegram's clock counts from (28.6 messages a second at 30). With 3% (29.1 a second) the
# stand-in counted 31 and 32 sendMessage calls in one second (bench/two_bots.py); with 5%,
# never more than 30.
SPACING_MARGIN = 0.05
# Slots given up for being woken too late, at most, before a call is sent anyway.
_RETAKES = 1
# How late after its slot a call may still be sent; later, it takes a new slot.
LATE_TOLERANCE = 0.012


def slot_interval(per_second: float) -> float:
    return (1.0 + SPACING_MARGIN) / per_second


# A process keeps the times of this many recent sends at most (an unpaced bench lifts the rate).
_MAX_WINDOW = 1000


class SendBudget(Protocol):
    """The grid of send slots of one bot, however many processes send for it."""

    # Messages a second; None when other processes send through the budget too, so that this
    # process cannot count every message of the bot.
    @property
    def sole_sender_rate(self) -> float | None: ...

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
        self._per_second = per_second
        self._clock = clock
        self._next = 0.0
        self._paused_until = 0.0

    @property
    def sole_sender_rate(self) -> float:
        return self._per_second

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
    ahead. A sender woken too late for its slot sends anyway if this process counts every send
    of the bot (a local budget) and the last second has room; otherwise it gives the slot up
    and takes the next free one (a slot later), not one behind every other waiting sender's.
    With several workers each holds at most one reservation, and the grid interleaves them.
    """

    def __init__(self, budget: SendBudget) -> None:
        self.budget = budget
        self._turn = asyncio.Lock()
        rate = budget.sole_sender_rate
        # When this process sends every message of the bot: when its last `rate` messages left.
        self._recent: deque[float] | None = None
        if rate is not None and rate <= _MAX_WINDOW:
            self._recent = deque(maxlen=max(1, int(rate)))
        # What the grid spans for `rate + 1` slots, so on-time calls (hardly) wait for it, and
        # a second plus the grid's whole margin: late calls sent back to back must not land
        # 31 in a second at Telegram, whose clock counts arrivals (measured with half the
        # margin: 31 to 32 in one second at the stand-in, bench/two_bots.py).
        self._window = 1.0 + SPACING_MARGIN

    async def take(self, *, sending: bool = True) -> float:
        """Wait for a slot; return, at the slot, the moment (loop time). `sending` False: the
        caller sends later and calls `may_send(that moment)` just before it does."""
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
                if self._recent is not None:
                    # Late or not, the slot is used once the last second has room.
                    if sending:
                        await self._room(loop)
                        self._recent.append(loop.time())
                    return loop.time()
                if loop.time() - due <= LATE_TOLERANCE or retake == _RETAKES:
                    return loop.time()
                # Woken too late: sending now could bunch this call with the next slots'.
                # Once only: on a machine so busy that every wake-up is late, retaking for
                # ever would send nothing at all; the second slot is sent, late or not.
        raise AssertionError("unreachable")  # pragma: no cover

    def may_send(self, slot_at: float) -> bool:
        """Right before a message is sent on a slot taken earlier (`take(sending=False)`):
        whether it may go now, without waiting for another slot. It is counted if so."""
        now = asyncio.get_running_loop().time()
        if self._recent is None:
            return now - slot_at <= LATE_TOLERANCE
        if not self._has_room(now):
            return False
        self._recent.append(now)
        return True

    def _has_room(self, now: float) -> bool:
        recent = self._recent
        return recent is None or len(recent) < (recent.maxlen or 0) or (
            now - recent[0] >= self._window
        )

    async def _room(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self._has_room(now := loop.time()):
            assert self._recent is not None
            await asyncio.sleep(self._recent[0] + self._window - now)
