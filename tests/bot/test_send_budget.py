"""The bot's send budget spreads its messages: never more than 30 in any one second, bursts
included, and a 429 makes every sender wait."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter

from bot.telegram.send_budget import (
    SLOW_CLAIM,
    LocalSendBudget,
    Pacer,
    SendBudget,
    slot_interval,
)
from bot.telegram.sender import BotApiSender
from tests.support import most_in_one_second


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _slots(budget: SendBudget, clock: _Clock, count: int) -> list[float]:
    return [clock.now + await budget.next_slot() for _ in range(count)]


async def test_a_burst_of_120_is_spread_to_at_most_30_in_any_second() -> None:
    clock = _Clock()
    budget = LocalSendBudget(30.0, clock=clock)
    slots = await _slots(budget, clock, 120)
    # 1.05 / 30 s apart (5% slack for the way to Telegram): 29 in any one second, never 30.
    assert most_in_one_second(slots) == 29
    # Spread evenly, not 30 at once then a gap.
    assert slots[28] - slots[0] < 1.0 and slots[29] - slots[0] >= 1.0


async def test_the_leaky_bucket_it_replaces_lets_far_more_than_30_through_in_one_second() -> None:
    """aiolimiter's AsyncLimiter(30, 1.0), which PTB's AIORateLimiter uses, is the defect the
    budget replaces: a full bucket passes at once and refills at 30 a second."""
    limiter = AsyncLimiter(30, 1.0)
    loop = asyncio.get_running_loop()
    passed: list[float] = []
    for _ in range(60):
        await limiter.acquire()
        passed.append(loop.time())
    assert most_in_one_second(passed) > 40


async def test_after_a_pause_no_slot_comes_before_its_end() -> None:
    clock = _Clock()
    budget = LocalSendBudget(30.0, clock=clock)
    await budget.pause(3.0)
    assert await budget.next_slot() >= 3.0
    clock.now += 10.0
    assert await budget.next_slot() == 0.0  # the pause is over; an idle grid starts now


class _Counting(LocalSendBudget):
    def __init__(self) -> None:
        super().__init__(1000.0)
        self.pauses: list[float] = []

    async def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await super().pause(seconds)


async def test_a_429_for_one_chat_pauses_the_budget_every_chat_sends_through() -> None:
    budget = _Counting()
    sender = BotApiSender(budget=budget, max_backoff_seconds=0.01)
    answers: list[BaseException | str] = [RetryAfter(1), "sent"]

    async def make() -> str:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    assert await sender.call(1, make) == "sent"
    # The budget every chat's messages take their slots from (test_after_a_pause_...).
    assert budget.pauses == [1.0]


class _SharedLike(LocalSendBudget):
    """A budget other processes also send through (as PostgreSQL's): no sole sender."""

    @property
    def sole_sender_rate(self) -> None:  # type: ignore[override]
        return None


async def test_a_slot_woken_late_is_used_when_the_process_sends_alone() -> None:
    """The relay reserves a slot, then checks the outbox under the chat's lock; if that made it
    late for its slot, a process that sends every message of the bot still sends on it (a
    slot lost each time cut 29 messages a second to about 21). A worker sharing the budget
    with others, whose sends it cannot see, claims its slot only then; one found late takes
    another."""
    alone = Pacer(LocalSendBudget(30.0))
    taken = await alone.take(sending=False)
    time.sleep(0.05)  # the event loop was busy past the slot
    assert alone.may_send(taken)
    shared = Pacer(_SharedLike(30.0))
    taken = await shared.take(sending=False)
    time.sleep(0.05)
    assert not shared.may_send(taken)


async def test_late_slots_never_put_more_than_30_in_any_second() -> None:
    """Senders woken late, at random, by up to three slots' time: each sends on its slot when
    it may, or waits for another; every second still holds at most 30 messages."""
    pacer = Pacer(LocalSendBudget(30.0))
    loop = asyncio.get_running_loop()
    rng = random.Random(23)
    sent: list[float] = []
    for _ in range(75):
        taken = await pacer.take(sending=False)
        time.sleep(rng.choice((0.0, 0.0, 0.02, 0.1)))  # a busy event loop
        if not pacer.may_send(taken):
            await pacer.take()
        sent.append(loop.time())
    assert len(sent) == 75
    assert most_in_one_second(sent) <= 30


class _CountingShared(_SharedLike):
    """A shared-like budget that counts the slots it hands out."""

    def __init__(self, per_second: float, *, clock: Callable[[], float]) -> None:
        super().__init__(per_second, clock=clock)
        self.spent = 0

    async def next_slot(self) -> float:
        self.spent += 1
        return await super().next_slot()

    async def claim(self) -> float:
        wait = await super().claim()
        self.spent += wait <= 0
        return wait


async def test_a_shared_budget_spends_a_slot_only_when_one_is_claimed_to_send() -> None:
    """Workers reserve nothing ahead (a reserved slot whose message another worker sent, or
    that came while its sender was busy, was lost): `take(sending=False)` spends nothing, a
    claim spends one slot, and a claim with none due spends nothing and says how long to wait."""
    clock = _Clock()
    budget = _CountingShared(30.0, clock=clock)
    pacer = Pacer(budget)
    assert pacer.shared
    for _ in range(5):
        await pacer.take(sending=False)
    assert budget.spent == 0
    await pacer.claim()
    assert budget.spent == 1
    wait = await budget.claim()  # the next slot has not come: nothing taken
    assert wait > 0 and budget.spent == 1
    clock.now += wait
    assert await budget.claim() == 0.0 and budget.spent == 2


async def test_claims_late_by_more_than_the_tolerance_pile_up_no_burst() -> None:
    """After a quiet while, the slots missed are not owed: one claim goes now, the next waits
    an interval (less the tolerance a claim may be late by)."""
    clock = _Clock()
    budget = LocalSendBudget(30.0, clock=clock)
    assert await budget.claim() == 0.0
    clock.now += 10.0
    assert await budget.claim() == 0.0
    wait = await budget.claim()
    assert 0 < wait <= slot_interval(30.0)


class _SlowFirstClaim(_CountingShared):
    """Its first claim answers late, as when the worker's event loop was busy meanwhile."""

    async def claim(self) -> float:
        wait = await super().claim()
        if self.spent == 1 and wait <= 0:
            time.sleep(SLOW_CLAIM + 0.02)
        return wait


async def test_a_claim_answered_too_late_is_given_up_for_the_next_slot() -> None:
    budget = _SlowFirstClaim(30.0, clock=time.monotonic)
    await Pacer(budget).claim()
    assert budget.spent == 2  # the late one given up, the next one sent on
