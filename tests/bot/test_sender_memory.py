"""The sender's per-chat rate buckets do not grow with every chat ever seen."""

from __future__ import annotations

import asyncio

from bot.telegram.send_budget import LocalSendBudget
from bot.telegram.sender import BotApiSender


async def _nothing() -> None:
    return None


async def test_drained_buckets_of_idle_chats_are_forgotten() -> None:
    """Once a chat's bucket has drained it carries no state; new chats push such buckets out,
    so memory follows the chats active lately, not every chat since the start."""
    sender = BotApiSender(budget=LocalSendBudget(100_000.0), per_chat_per_second=2.0,
                          per_chat_burst=2)  # a used bucket drains in 0.5 s
    for chat_id in range(100):
        await sender.call(chat_id, _nothing)
    assert sender.chats_tracked == 100
    await asyncio.sleep(0.8)
    for chat_id in range(100, 150):
        await sender.call(chat_id, _nothing)
    assert sender.chats_tracked == 50  # each new chat forgot two drained ones
    await asyncio.sleep(0.8)
    for chat_id in range(150, 200):
        await sender.call(chat_id, _nothing)
    assert sender.chats_tracked == 50


async def test_a_bucket_still_draining_is_kept() -> None:
    """A chat that has just used its burst keeps its bucket (its pace holds) however many new
    chats arrive meanwhile."""
    sender = BotApiSender(budget=LocalSendBudget(100_000.0), per_chat_per_second=0.5,
                          per_chat_burst=2)  # drains in 4 s
    await sender.call(1, _nothing)
    await sender.call(1, _nothing)
    for chat_id in range(2, 12):
        await sender.call(chat_id, _nothing)
    assert sender.chats_tracked == 11
