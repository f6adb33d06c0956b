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
(a request then waiting for a free Bot API connection leaves later than counted).

One process keeps the grid in memory (`LocalSendBudget`); several webhook workers share one
kept in PostgreSQL (storage/send_budget.py), since Telegram's limits are per bot, not per
worker. A 429 pauses the whole grid for its `retry_after`: no worker sends meanwhile. Workers
cannot see each other's sends, so they reserve nothing ahead: each claims the slot due now right
before it sends (`claim`), and a slot no message claims is skipped, not spent. Reserving ahead,
two workers spent more than two slots per message sent and took twice one worker's time for the
same witnesses: a slot reserved before the chat's lock was lost when another worker had sent
the message meanwhile, or when the sender was woken more than the tolerance late (often, on a
busy machine), and its replacement came after every other worker's reservation.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
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
# Workers sharing a budget leave more. A claim's answer reaches its worker a little late (its
# event loop busy elsewhere): with 2 workers on a 2-core machine at load 5, the send left 7 ms
# after its slot at the median, 44 ms at the 99th percentile, 100 ms at worst, and at 5% the
# workers sent 30 in one second at the most (their own clocks), with nothing left for the way to
# Telegram. At 10%, any 31 slots span 1.1 s: 27.3 messages a second (bench/send_budget_workers.py:
# at most 28 to 30 in one second at the stand-in with 1 to 8 workers, load up to 10).
SHARED_SPACING_MARGIN = 0.10
# How late after its slot a call may still be sent on it, with a shared budget (the claim's
# moment, on the database's clock, and the send right after it); later, it takes a new slot.
LATE_TOLERANCE = 0.012
# A claim answered later than this after it was asked (the worker's event loop or the database
# busy) is given up once, and the next slot claimed: sent on, its message could leave up to
# this plus LATE_TOLERANCE after its slot (8 workers on 2 cores: 31 in one second at the
# stand-in without this bound, the stand-in held up 36 ms at most).
SLOW_CLAIM = 0.04


def slot_interval(per_second: float, margin: float = SPACING_MARGIN) -> float:
    return (1.0 + margin) / per_second


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

    async def claim(self) -> float:
        """Take the slot due now if there is one (one that came at most LATE_TOLERANCE ago
        counts as due): 0.0; else reserve nothing and return the seconds until the next."""
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

    async def claim(self) -> float:
        now = self._clock()
        slot = max(self._next, now - LATE_TOLERANCE, self._paused_until)
        if slot > now:
            return slot - now
        self._next = slot + self._interval
        return 0.0

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)


# Senders of one process that may hold a chat's lock while they wait to claim a slot from a
# shared budget: enough that the next is ready (its outbox checked) when a slot comes, few
# enough that a chat's lock is held for a few slots' time at most, never for the whole queue.
ON_DECK = 3


class NotDue(Exception):
    """No slot within the caller's patience (a 429 pauses the budget): `wait` seconds to go."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


class Deck:
    """A place among the senders waiting, their chat's lock held, to claim a shared slot;
    given back once the slot is claimed (`release`) or when the sender leaves."""

    def __init__(self, places: asyncio.Semaphore | None) -> None:
        self._places = places
        self._held = False

    async def __aenter__(self) -> Deck:
        if self._places is not None:
            await self._places.acquire()
            self._held = True
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        if self._held and self._places is not None:
            self._held = False
            self._places.release()


class Pacer:
    """This process's senders take the budget's slots one at a time, in turn.

    A process that sends alone (a local budget) reserves its next slot ahead: only the sender
    whose turn it is holds a reservation, so it never books slots far ahead, and one woken late
    sends anyway while the last second has room. With a shared budget, the sender whose turn it
    is claims the slot due now (`claim`), waiting for it if it has not come or another worker
    took it; the relay first takes its chat's lock and checks the outbox (`on_deck`, a few
    senders at once), so that a slot is claimed only for a message that leaves at once.
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
        self._deck = asyncio.Semaphore(ON_DECK) if self._recent is None else None

    @property
    def shared(self) -> bool:
        """Whether slots are claimed at sending time (a budget other processes send through)."""
        return self._recent is None

    def on_deck(self) -> Deck:
        """`async with pacer.on_deck() as deck:` before taking a chat's lock to send on a
        shared budget; `deck.release()` once the slot is claimed. Free with a local budget."""
        return Deck(self._deck)

    async def claim(self, *, patience: float | None = None) -> float:
        """With a shared budget: in turn, wait until this process claims a slot; the moment
        (loop time). The caller sends at once (`may_send` of that moment holds). NotDue if
        the next slot is more than `patience` seconds away (the caller holds a chat's lock)."""
        loop = asyncio.get_running_loop()
        async with self._turn:
            slow = 0
            while True:
                asked = loop.time()
                wait = await self.budget.claim()
                if wait <= 0:
                    if loop.time() - asked <= SLOW_CLAIM or slow:
                        return loop.time()
                    # Its answer came so late that the message would leave long after its
                    # slot, close to the next ones': given up (once) for the next slot.
                    slow += 1
                    continue
                if patience is not None and wait > patience:
                    raise NotDue(wait)
                # Not come yet, or another worker took it: the next is `wait` away.
                await asyncio.sleep(wait)

    async def take(self, *, sending: bool = True) -> float:
        """Wait for a slot; return, at the slot, the moment (loop time). `sending` False: the
        caller sends later and calls `may_send(that moment)` just before it does; with a
        shared budget nothing is reserved then, and the caller claims its slot (`claim`) once
        it holds the chat's lock and knows its message is still waiting."""
        loop = asyncio.get_running_loop()
        if self._recent is None:
            if sending:
                return await self.claim()
            return loop.time()
        async with self._turn:
            wait = await self.budget.next_slot()
            if wait > 0:
                await asyncio.sleep(wait)
            # Late or not, the slot is used once the last second has room.
            if sending:
                await self._room(loop)
                self._recent.append(loop.time())
            return loop.time()

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
