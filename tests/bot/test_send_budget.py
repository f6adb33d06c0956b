"""The bot's send budget spreads its messages: never more than 30 in any one second, bursts
included, and a 429 makes every sender wait."""

from __future__ import annotations

import asyncio

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter

from bot.telegram.send_budget import LocalSendBudget, SendBudget
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
    assert most_in_one_second(slots) == 30
    # Spread evenly, not 30 at once then a gap: the first second holds them all but one.
    assert slots[29] - slots[0] < 1.0 and slots[30] - slots[0] >= 1.0


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
