"""Telegram's overall sending rate for one bot: at most 30 messages in any one second.

A leaky bucket of 30 (aiolimiter's `AsyncLimiter(30, 1.0)`, on which python-telegram-bot's
AIORateLimiter is built) lets a full bucket through at once and refills it at 30 a second, so
about 60 calls can land within one second; Telegram answers the excess with 429.

A process that sends every message of its bot (one process on SQLite) counts its messages
where they are counted, at Telegram (`LocalSendBudget`): each holds one of 30 permits from just
before it leaves until a second after Telegram's answer came back. Telegram counted it between
those two moments, so however the way there bunched messages up or held them back (a busy
event loop, a request waiting for one of the bot's connections), no second of Telegram's holds
31 (the argument is in `LocalSendBudget`'s docstring). No margin is kept for the way, and a
permit whose message was sent meanwhile by someone else is given back at once, unspent. An
evenly spaced grid, which this replaces for a single process, needed a 5% margin (28.6 a
second) and still counted on time: with 3% the stand-in counted 31 and 32 in one second.

Several webhook workers share a grid kept in PostgreSQL (storage/send_budget.py), since
Telegram's limits are per bot, not per worker, and a worker cannot see the others' answers.
Slots lie `(1 + margin) / rate` seconds apart, so any `rate + 1` messages span more than a
second. Workers reserve nothing ahead: each claims the slot due now right before it sends
(`claim`), and a slot no message claims is skipped, not spent. Reserving ahead, two workers
spent more than two slots per message sent and took twice one worker's time for the same
witnesses: a slot reserved before the chat's lock was lost when another worker had sent the
message meanwhile, or when the sender was woken more than the tolerance late (often, on a busy
machine), and its replacement came after every other worker's reservation.

Either way, a 429 pauses the bot's sending for its `retry_after`: no worker sends meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import Protocol

# Telegram's overall limit for one bot (Bot FAQ: "not more than 30 messages per second or so").
TELEGRAM_MESSAGES_PER_SECOND = 30.0
# How long a message keeps its permit after Telegram's answer: a second, and 5 ms more, as the
# event loop may run a timer a little early and the two clocks need not tick quite alike.
ANSWER_WINDOW = 1.005
# The margin of the workers' shared grid, as a fraction of a second. A claim's answer reaches
# its worker a little late (its event loop busy elsewhere): with 2 workers on a 2-core machine
# at load 5, the send left 7 ms after its slot at the median, 44 ms at the 99th percentile,
# 100 ms at worst, and at 5% the workers sent 30 in one second at the most (their own clocks),
# with nothing left for the way to Telegram. At 10%, any 31 slots span 1.1 s: 27.3 messages a
# second (bench/send_budget_workers.py: at most 28 to 30 in one second at the stand-in with 1
# to 8 workers, load up to 10).
SHARED_SPACING_MARGIN = 0.10
# How late after its slot a call may still be sent on it, with a shared budget (the claim's
# moment, on the database's clock, and the send right after it); later, it takes a new slot.
LATE_TOLERANCE = 0.012
# A claim answered later than this after it was asked (the worker's event loop or the database
# busy) is given up once, and the next slot claimed: sent on, its message could leave up to
# this plus LATE_TOLERANCE after its slot (8 workers on 2 cores: 31 in one second at the
# stand-in without this bound, the stand-in held up 36 ms at most).
SLOW_CLAIM = 0.04


def slot_interval(per_second: float, margin: float = SHARED_SPACING_MARGIN) -> float:
    return (1.0 + margin) / per_second


class SendBudget(Protocol):
    """The grid of send slots of one bot shared by its workers (storage/send_budget.py)."""

    async def claim(self) -> float:
        """Take the slot due now if there is one (one that came at most LATE_TOLERANCE ago
        counts as due): 0.0; else reserve nothing and return the seconds until the next."""
        ...

    async def pause(self, seconds: float) -> None:
        """Telegram answered 429: no slot for anyone before `seconds` from now."""
        ...


class Slot:
    """One message's place in its bot's budget: taken before the chat's lock (`Pacer.take`),
    used by the message if it still waits under the lock (`sending`), else given back.

    A local budget's slot is a permit, held from the send until ANSWER_WINDOW after the answer
    (a failure counts as an answer: the call may have reached Telegram); a permit never used
    goes back at once (`give_back`, which a spent slot ignores). A shared budget's slot is the
    moment a claim took it, usable for LATE_TOLERANCE.
    """

    __slots__ = ("_at", "_budget", "_state")

    def __init__(self, at: float, budget: LocalSendBudget | None = None) -> None:
        self._at = at
        self._budget = budget
        self._state = "held"  # then "sending", then "done"

    def usable(self) -> bool:
        """Whether a message may leave on it now, without taking another."""
        if self._state != "held":
            return False
        if self._budget is not None:
            return not self._budget.paused  # a 429 came since the permit was taken
        return asyncio.get_running_loop().time() - self._at <= LATE_TOLERANCE

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Around the call that sends on it."""
        self._state = "sending"
        try:
            yield
        finally:
            self._state = "done"
            if self._budget is not None:
                self._budget.release(spent=True)

    def give_back(self) -> None:
        """No message left on it (another worker sent it, or the update cleared it)."""
        if self._state == "held":
            self._state = "done"
            if self._budget is not None:
                self._budget.release(spent=False)


class LocalSendBudget:
    """The budget of a process that sends every message of its bot: `per_second` permits,
    each held from just before a message leaves until ANSWER_WINDOW after its answer.

    Why no second of Telegram's then holds more than `per_second` (30) messages: say 31 were
    counted by Telegram within one second, from x to before x + 1. Take the one of them that
    took its permit last, at s; Telegram counted it after s and before x + 1. Each of the other
    30 was counted at x or later, so its answer came back at x or later, and it held its permit
    until x + ANSWER_WINDOW or later: past x + 1, so past s, and it took its permit before s.
    At s all 30 permits were held, and the 31st could not have taken one. Only the answer's
    moment matters, not how long the message took to get there; so no margin is kept, and one
    budget holds whatever the machine's load. A bot far from Telegram holds each permit for its
    answer's round trip more: with answers in 100 ms, about 27 messages a second. A call that
    failed without an answer (a time-out, a dropped connection) gives its permit back a second
    after the failure, though Telegram might count it later still; the read time-out (30 s)
    makes that a call Telegram held for half a minute. The content-free notices to reviewers'
    chats (bot/notifications.py: at most one per channel every ten minutes) do not go through
    the budget.

    A burst of 30 may leave at once after a quiet second (this is what lets a bot under the
    limit answer at once rather than on a grid's next slot); on its way it goes through the
    bot's few Bot API connections (sender.BOT_API_CONNECTIONS), one call each at a time.
    """

    def __init__(self, per_second: float = TELEGRAM_MESSAGES_PER_SECOND) -> None:
        self._permits = asyncio.Semaphore(max(1, int(per_second)))
        self._paused_until = 0.0  # loop time

    async def take(self) -> Slot:
        """Wait for a free permit and for any 429's pause to end; the permit, as a Slot."""
        loop = asyncio.get_running_loop()
        await self._pause_over(loop)
        await self._permits.acquire()
        try:
            await self._pause_over(loop)  # a 429 came while it waited
        except BaseException:
            self._permits.release()
            raise
        return Slot(loop.time(), self)

    def release(self, *, spent: bool) -> None:
        if spent:
            asyncio.get_running_loop().call_later(ANSWER_WINDOW, self._permits.release)
        else:
            self._permits.release()

    async def pause(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + seconds)

    @property
    def paused(self) -> bool:
        """Whether a 429's pause is still running: a permit taken before it waits it out."""
        return self._paused_until > asyncio.get_running_loop().time()

    async def _pause_over(self, loop: asyncio.AbstractEventLoop) -> None:
        # Not an Event: another 429 may move the end while it is waited for.
        while (left := self._paused_until - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left)


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
    """This process's senders take the budget's slots.

    A process that sends alone (a local budget) takes a permit before a chat's lock (`take`),
    and gives it back unspent if the message has gone meanwhile. With a shared budget, the
    sender whose turn it is claims the slot due now (`claim`), waiting for it if it has not
    come or another worker took it; the relay first takes its chat's lock and checks the outbox
    (`on_deck`, a few senders at once), so that a slot is claimed only for a message that leaves
    at once.
    """

    def __init__(self, budget: SendBudget | LocalSendBudget) -> None:
        self.budget = budget
        self._local = budget if isinstance(budget, LocalSendBudget) else None
        self._shared = None if isinstance(budget, LocalSendBudget) else budget
        self._turn = asyncio.Lock()
        self._deck = asyncio.Semaphore(ON_DECK) if self._local is None else None

    @property
    def shared(self) -> bool:
        """Whether slots are claimed at sending time (a budget other processes send through)."""
        return self._local is None

    def on_deck(self) -> Deck:
        """`async with pacer.on_deck() as deck:` before taking a chat's lock to send on a
        shared budget; `deck.release()` once the slot is claimed. Free with a local budget."""
        return Deck(self._deck)

    async def claim(self, *, patience: float | None = None) -> Slot:
        """With a shared budget: in turn, wait until this process claims a slot. The caller
        sends at once (the slot is `usable` for LATE_TOLERANCE). NotDue if the next slot is
        more than `patience` seconds away, or the turn does not come within it (the caller
        holds a chat's lock: a sender ahead that may wait, through a 429's pause, holds the
        turn that long)."""
        if self._shared is None:
            assert self._local is not None
            return await self._local.take()  # only a shared budget is claimed so
        if patience is None:
            await self._turn.acquire()
        else:
            try:
                async with asyncio.timeout(patience):
                    await self._turn.acquire()
            except TimeoutError:
                raise NotDue(patience) from None
        try:
            return await self._claim_in_turn(self._shared, patience)
        finally:
            self._turn.release()

    @staticmethod
    async def _claim_in_turn(shared: SendBudget, patience: float | None) -> Slot:
        loop = asyncio.get_running_loop()
        slow = 0
        while True:
            asked = loop.time()
            wait = await shared.claim()
            if wait <= 0:
                if loop.time() - asked <= SLOW_CLAIM or slow:
                    return Slot(loop.time())
                # Its answer came so late that the message would leave long after its
                # slot, close to the next ones': given up (once) for the next slot.
                slow += 1
                continue
            if patience is not None and wait > patience:
                raise NotDue(wait)
            # Not come yet, or another worker took it: the next is `wait` away.
            await asyncio.sleep(wait)

    async def reserve(self) -> Slot | None:
        """Before a chat's lock, for a message sent under it. Local: a permit (wait for one),
        given back by the caller if the message has gone meanwhile. Shared: nothing is
        reserved (None); the caller claims its slot (`claim`) once it holds the chat's lock
        and knows its message is still waiting."""
        if self._local is not None:
            return await self._local.take()
        return None

    async def take(self) -> Slot:
        """A slot for a message that leaves at once: a permit, or a claimed shared slot."""
        if self._local is not None:
            return await self._local.take()
        return await self.claim()

    async def pause(self, seconds: float) -> None:
        """Telegram answered 429: every sender of the bot waits `seconds`."""
        await self.budget.pause(seconds)
