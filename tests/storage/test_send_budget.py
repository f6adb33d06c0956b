"""Several workers share one send budget in PostgreSQL: their slots, reserved or claimed at
once, never come closer than one interval; one worker's 429 pauses every worker; a claim that
finds no slot due spends none."""

from __future__ import annotations

import asyncio
import itertools

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.telegram.send_budget import LATE_TOLERANCE, slot_interval
from storage.send_budget import SharedSendBudget, budget_key
from tests.support import fresh_postgres_database, most_in_one_second

BOT_ID = 555000111


async def test_four_workers_taking_slots_at_once_share_thirty_a_second() -> None:
    async with fresh_postgres_database(migrated=True) as url:
        engines = [create_async_engine(url) for _ in range(4)]  # one pool per worker
        try:
            interval = slot_interval(30.0)
            workers = [SharedSendBudget(engine, BOT_ID, interval) for engine in engines]

            async def take(budget: SharedSendBudget, count: int) -> list[float]:
                return [(await budget.take())[0] for _ in range(count)]

            taken = await asyncio.gather(*(take(w, 30) for w in workers))
            slots = sorted(s for worker in taken for s in worker)
            assert len(slots) == 120
            gaps = [b - a for a, b in itertools.pairwise(slots)]
            # Each slot one interval after the last (floating point aside), none shared.
            assert min(gaps) > interval * 0.999
            assert most_in_one_second(slots) <= 30

            # Another bot has a budget of its own.
            other = SharedSendBudget(engines[0], BOT_ID + 1, interval)
            assert await other.next_slot() == 0.0

            await workers[0].pause(5.0)
            for budget in workers[1:]:
                assert await budget.next_slot() >= 4.0
        finally:
            for engine in engines:
                await engine.dispose()


async def test_workers_claiming_slots_at_once_never_come_closer_than_one_interval() -> None:
    """Claimed at sending time (bot/telegram/send_budget.py): four workers each claim 30 slots,
    waiting whenever none is due; the 120 slots are one interval apart at least."""
    async with fresh_postgres_database(migrated=True) as url:
        engines = [create_async_engine(url) for _ in range(4)]
        try:
            interval = slot_interval(30.0)
            workers = [SharedSendBudget(engine, BOT_ID, interval) for engine in engines]

            async def claim(budget: SharedSendBudget, count: int) -> list[float]:
                slots: list[float] = []
                while len(slots) < count:
                    slot, wait = await budget.claim_slot()
                    if slot is None:
                        await asyncio.sleep(wait)
                    else:
                        slots.append(slot)
                return slots

            claimed = await asyncio.gather(*(claim(w, 30) for w in workers))
            slots = sorted(s for worker in claimed for s in worker)
            assert len(slots) == 120
            assert min(b - a for a, b in itertools.pairwise(slots)) > interval * 0.999
            assert most_in_one_second(slots) <= 30
        finally:
            for engine in engines:
                await engine.dispose()


async def test_a_claim_that_finds_no_slot_due_spends_none() -> None:
    """A worker that asks while no slot is due (here: a 429's pause) takes nothing: however
    often it asks, the grid does not move, and it learns how long to wait."""
    async with fresh_postgres_database(migrated=True) as url:
        engine = create_async_engine(url)
        try:
            budget = SharedSendBudget(engine, BOT_ID, slot_interval(30.0))
            first, _wait = await budget.claim_slot()
            assert first is not None
            await budget.pause(30.0)
            before = await _next_slot(engine)
            for _ in range(5):
                slot, wait = await budget.claim_slot()
                assert slot is None and 25.0 < wait <= 30.0
            assert await _next_slot(engine) == before
        finally:
            await engine.dispose()


async def test_after_a_quiet_while_the_slots_nobody_claimed_are_not_owed() -> None:
    """The grid lets no burst through after a quiet while: the first claim goes at once, the
    next only an interval later (less the tolerance a claim may be late by)."""
    async with fresh_postgres_database(migrated=True) as url:
        engine = create_async_engine(url)
        try:
            interval = slot_interval(30.0)
            budget = SharedSendBudget(engine, BOT_ID, interval, late=LATE_TOLERANCE)
            assert (await budget.claim_slot())[0] is not None
            await asyncio.sleep(0.5)  # about 14 slots' time, none claimed
            assert (await budget.claim_slot())[0] is not None
            slot, wait = await budget.claim_slot()
            assert slot is None
            assert 0 < wait <= interval - LATE_TOLERANCE
        finally:
            await engine.dispose()


async def _next_slot(engine: AsyncEngine) -> float:
    async with engine.connect() as connection:
        return float((await connection.execute(
            text("SELECT next_slot FROM send_budgets WHERE bot_key = :key"),
            {"key": budget_key(BOT_ID)},
        )).scalar_one())
