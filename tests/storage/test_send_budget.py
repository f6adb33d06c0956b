"""Several workers share one send budget in PostgreSQL: their slots, taken at once, never come
closer than one interval, and one worker's 429 pauses every worker."""

from __future__ import annotations

import asyncio
import itertools

from sqlalchemy.ext.asyncio import create_async_engine

from bot.telegram.send_budget import slot_interval
from storage.send_budget import SharedSendBudget
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
