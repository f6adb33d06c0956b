"""Webhook workers sharing one send budget spend a slot only on a message that leaves: one
that finds, under the chat's lock, that another worker delivered the message already spends
nothing (reserving slots ahead, each such find lost one, and with 2 workers more than half of
the slots taken went unused: bench/send_budget_workers.py).

Two workers: two Storage instances on one real PostgreSQL database, each with its own relay,
sender and pacer, sharing the budget row; the real PTB Bot against the stand-in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from telegram import Bot

from bot.chat_store import ChatStore
from bot.core.chat import ChatState, SendText
from bot.telegram.delivery import OutboxRelay
from bot.telegram.send_budget import LATE_TOLERANCE, TELEGRAM_MESSAGES_PER_SECOND, slot_interval
from bot.telegram.sender import BotApiSender
from crypto.drafts import DraftKeyring
from standin.client import FakeUser
from standin.server import BotApiStandIn
from storage import Storage
from storage.send_budget import SharedSendBudget
from tests.support import fresh_postgres_database

TOKEN = "123456789:TEST-shared-slots-token-for-the-stand-in"
CHAT_ID = 4343


class CountingBudget(SharedSendBudget):
    """The shared budget, counting the slots this worker spent (reserved or claimed)."""

    spent = 0

    async def take(self) -> tuple[float, float]:
        CountingBudget.spent += 1
        return await super().take()

    async def claim_slot(self) -> tuple[float | None, float]:
        slot, wait = await super().claim_slot()
        CountingBudget.spent += slot is not None
        return slot, wait


@dataclass
class Worker:
    storage: Storage
    store: ChatStore
    relay: OutboxRelay
    budget: CountingBudget

    async def drain(self, chat_key: str) -> None:
        while await self.relay.deliver_next(chat_key):
            pass


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[tuple[FakeUser, list[Worker]]]:
    CountingBudget.spent = 0
    keyring = DraftKeyring.ephemeral()
    async with fresh_postgres_database(migrated=True) as url, BotApiStandIn(TOKEN) as standin:
        user = standin.user(CHAT_ID, "Witness")
        bot = Bot(TOKEN, base_url=standin.base_url, base_file_url=standin.base_file_url)
        await bot.initialize()
        opened: list[Worker] = []
        try:
            for number in range(2):
                storage = await Storage.open(url, tmp_path / f"blobs{number}")
                budget = CountingBudget(
                    storage.engine, bot.id, slot_interval(TELEGRAM_MESSAGES_PER_SECOND),
                    late=LATE_TOLERANCE)
                sender = BotApiSender(budget=budget, per_chat_burst=50)
                store = ChatStore(storage, keyring, ttl_seconds=3600)
                opened.append(Worker(storage, store, OutboxRelay(bot, sender, store, storage),
                                     budget))
            yield user, opened
        finally:
            for worker in opened:
                await worker.storage.close()
            await bot.shutdown()


async def test_a_message_another_worker_delivered_spends_no_slot(
    workers: tuple[FakeUser, list[Worker]],
) -> None:
    user, (first, second) = workers
    chat_key = first.store.chat_key(CHAT_ID)
    state = ChatState()
    committed = await first.store.commit(chat_key, [b"u" * 32], state,
                                         [SendText(CHAT_ID, "one"), SendText(CHAT_ID, "two")])
    # The second worker was handed the messages too (as after an update it processed), but
    # the first delivers them before the second gets round to it.
    second.relay.hand_over(chat_key, state, committed)
    await first.drain(chat_key)
    assert [m.text for m in user.bot_messages()] == ["one", "two"]
    spent = CountingBudget.spent
    assert spent == 2
    assert await second.relay.deliver_next(chat_key) is False
    assert CountingBudget.spent == spent  # reserving ahead, a slot was lost here
    assert [m.text for m in user.bot_messages()] == ["one", "two"]


async def test_two_workers_delivering_one_chat_at_once_spend_one_slot_a_message(
    workers: tuple[FakeUser, list[Worker]],
) -> None:
    user, (first, second) = workers
    chat_key = first.store.chat_key(CHAT_ID)
    texts = [f"message {n}" for n in range(8)]
    await first.store.commit(chat_key, [b"v" * 32], ChatState(),
                             [SendText(CHAT_ID, t) for t in texts])
    await asyncio.gather(first.drain(chat_key), second.drain(chat_key))
    assert [m.text for m in user.bot_messages()] == texts  # each once, in order
    assert CountingBudget.spent == len(texts)


async def test_a_sender_on_deck_lets_the_chat_go_while_a_429_pauses_the_budget(
    workers: tuple[FakeUser, list[Worker]],
) -> None:
    """Waiting a few slots for a slot, a sender holds its chat's lock; waiting out a 429's
    pause, it lets the lock go (the chat's next update must not wait that long), then sends."""
    user, (first, second) = workers
    chat_key = first.store.chat_key(CHAT_ID)
    await first.store.commit(chat_key, [b"w" * 32], ChatState(), [SendText(CHAT_ID, "later")])
    await first.budget.pause(3.0)  # as after a 429
    drain = asyncio.create_task(first.drain(chat_key))
    await asyncio.sleep(0.5)  # the relay is on deck, or waiting the pause out without the lock
    async with second.storage.try_chat_lock(chat_key) as held:
        assert held, "the chat stayed locked while the budget was paused"
    await drain
    assert [m.text for m in user.bot_messages()] == ["later"]
