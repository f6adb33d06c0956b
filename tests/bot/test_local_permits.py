"""A single process's send permits (bot/telegram/send_budget.py) are not pinned by a chat that
cannot send yet: while an update of that chat holds its lock (a Send sealing its files), the
relay gives its permit back, and other chats' messages go out meanwhile.

The real PTB Bot against the stand-in; the outbox on a real SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from telegram import Bot

from bot.chat_store import ChatStore
from bot.core.chat import ChatState, SendText
from bot.telegram.delivery import OutboxRelay
from bot.telegram.send_budget import LocalSendBudget
from bot.telegram.sender import BotApiSender
from crypto.drafts import DraftKeyring
from standin.client import FakeUser
from standin.server import BotApiStandIn
from storage import Storage

TOKEN = "123456789:TEST-local-permits-token-for-the-stand-in"
BUSY_CHAT, FREE_CHAT = 5101, 5102


async def _texts(user: FakeUser, count: int) -> list[str]:
    async with asyncio.timeout(10):
        while len(user.bot_messages()) < count:
            await asyncio.sleep(0.02)
    return [m.text for m in user.bot_messages()]


async def test_a_chat_whose_lock_is_taken_holds_no_permit_meanwhile(
    database_url: str, tmp_path: Path
) -> None:
    storage = await Storage.open(database_url, tmp_path / "blobs")
    try:
        async with BotApiStandIn(TOKEN) as standin:
            busy_user = standin.user(BUSY_CHAT, "Busy")
            free_user = standin.user(FREE_CHAT, "Free")
            bot = Bot(TOKEN, base_url=standin.base_url, base_file_url=standin.base_file_url)
            await bot.initialize()
            try:
                # One permit for the whole bot: pinned by the busy chat, nobody else could send.
                sender = BotApiSender(budget=LocalSendBudget(1.0), per_chat_burst=50)
                store = ChatStore(storage, DraftKeyring.ephemeral(), ttl_seconds=3600)
                relay = OutboxRelay(bot, sender, store, storage)
                busy, free = store.chat_key(BUSY_CHAT), store.chat_key(FREE_CHAT)
                await store.commit(busy, [b"a" * 32], ChatState(), [SendText(BUSY_CHAT, "later")])
                await store.commit(free, [b"b" * 32], ChatState(), [SendText(FREE_CHAT, "now")])
                async with storage.chat_lock(busy):  # an update of the busy chat, still running
                    relay.kick(busy)
                    await asyncio.sleep(0.2)  # its relay has found the lock taken
                    relay.kick(free)
                    assert await _texts(free_user, 1) == ["now"]
                    assert busy_user.bot_messages() == []
                assert await _texts(busy_user, 1) == ["later"]  # once its lock was free
            finally:
                await bot.shutdown()
    finally:
        await storage.close()
