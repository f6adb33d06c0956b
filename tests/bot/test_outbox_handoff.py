"""The relay delivers what an update handed it without reading it back, but only while the
database still holds exactly that: another worker that took the chat in between wins.

Real SQLite and PostgreSQL, the real sealing keyring, the real PTB Bot against the stand-in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from telegram import Bot

from bot.chat_store import ChatStore
from bot.core.chat import ChatState, DeleteTrail, SendText
from bot.telegram import delivery
from bot.telegram.delivery import OutboxRelay
from bot.telegram.sender import BotApiSender
from crypto.drafts import DraftKeyring
from standin.client import FakeUser
from standin.server import BotApiStandIn
from storage import Storage

TOKEN = "123456789:TEST-handoff-token-for-the-stand-in"
CHAT_ID = 4242


@dataclass
class Rig:
    standin: BotApiStandIn
    user: FakeUser
    store: ChatStore
    relay: OutboxRelay
    chat_key: str

    async def drain(self) -> None:
        while await self.relay.deliver_next(self.chat_key):
            pass

    def sent_texts(self) -> list[str]:
        return [m.text for m in self.user.bot_messages()]


@pytest.fixture
async def rig(storage: Storage) -> AsyncIterator[Rig]:
    async with BotApiStandIn(TOKEN) as standin:
        user = standin.user(CHAT_ID, "Witness")
        bot = Bot(TOKEN, base_url=standin.base_url, base_file_url=standin.base_file_url)
        await bot.initialize()
        try:
            store = ChatStore(storage, DraftKeyring.ephemeral(), ttl_seconds=3600)
            relay = OutboxRelay(bot, BotApiSender(per_chat_burst=50), store, storage)
            yield Rig(standin, user, store, relay, store.chat_key(CHAT_ID))
        finally:
            await bot.shutdown()


async def test_handed_messages_are_delivered_and_recorded_as_from_the_outbox(rig: Rig) -> None:
    """The hand-over path sends in order, records the sent ids in the stored trail and leaves
    nothing waiting, exactly as reading the outbox would."""
    state = ChatState(trail=[7])
    committed = await rig.store.commit(
        rig.chat_key, [b"u" * 32], state, [SendText(CHAT_ID, "one"), SendText(CHAT_ID, "two")]
    )
    assert not committed.after_others
    rig.relay.hand_over(rig.chat_key, state, committed)
    await rig.drain()
    assert rig.sent_texts() == ["one", "two"]
    stored = await rig.store.load(rig.chat_key)
    assert stored.trail == [7, *(m.message_id for m in rig.user.bot_messages())]
    assert await rig.store.pending(rig.chat_key) == []


async def test_a_chat_another_worker_wrote_meanwhile_is_read_from_the_outbox(rig: Rig) -> None:
    """Another worker committed the chat's next update after ours: its state (here a trail id
    it remembered) is not overwritten with ours, and its message follows ours."""
    mine = ChatState()
    committed = await rig.store.commit(rig.chat_key, [b"a" * 32], mine,
                                       [SendText(CHAT_ID, "mine")])
    rig.relay.hand_over(rig.chat_key, mine, committed)
    theirs = await rig.store.load(rig.chat_key)
    theirs.remember(999)
    later = await rig.store.commit(rig.chat_key, [b"b" * 32], theirs,
                                   [SendText(CHAT_ID, "theirs")])
    assert later.after_others
    await rig.drain()
    assert rig.sent_texts() == ["mine", "theirs"]
    stored = await rig.store.load(rig.chat_key)
    assert 999 in stored.trail
    assert [m.message_id for m in rig.user.bot_messages()] == [i for i in stored.trail
                                                               if i != 999]


async def test_a_handed_message_another_worker_sent_is_not_sent_again(rig: Rig) -> None:
    """The handed message is gone from the outbox (another worker delivered it): nothing is
    sent twice, and what follows it is still delivered."""
    state = ChatState()
    state.remember(await rig.user.send_text("from the witness"))  # for DeleteTrail to find
    committed = await rig.store.commit(
        rig.chat_key, [b"c" * 32], state, [SendText(CHAT_ID, "once"), DeleteTrail(CHAT_ID)]
    )
    rig.relay.hand_over(rig.chat_key, state, committed)
    first = committed.messages[0]
    other = await rig.store.load(rig.chat_key)
    assert other.trail == state.trail
    await rig.store.delivered(first.entry_id, rig.chat_key, other)
    await rig.drain()
    assert rig.sent_texts() == []
    assert [c.method for c in rig.standin.calls if c.method != "getMe"] == ["deleteMessages"]
    assert await rig.store.pending(rig.chat_key) == []


async def test_a_surge_waits_as_queued_chats_not_as_tasks(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more chats waiting than may be delivered at once, the rest wait in a queue (no task
    each), and every chat still gets its messages, in order."""
    monkeypatch.setattr(delivery, "MAX_DELIVERING", 2)
    chats = {n: rig.standin.user(n, f"Witness {n}") for n in range(7001, 7008)}
    for chat_id in chats:
        chat_key = rig.store.chat_key(chat_id)
        messages = [SendText(chat_id, f"welcome {chat_id}"), SendText(chat_id, "next")]
        await rig.store.commit(chat_key, [chat_id.to_bytes(32, "big")], ChatState(), messages)
    for chat_id in chats:  # all at once, as a surge's updates commit
        rig.relay.kick(rig.store.chat_key(chat_id))
        assert len(rig.relay._draining) <= 2
    assert len(rig.relay._queued) == len(chats) - 2
    for _ in range(200):  # until every chat has both messages and the relay is idle
        if not rig.relay._draining and all(len(u.bot_messages()) == 2 for u in chats.values()):
            break
        await asyncio.sleep(0.05)
    for chat_id, user in chats.items():
        assert [m.text for m in user.bot_messages()] == [f"welcome {chat_id}", "next"]
    assert not rig.relay._queued and not rig.relay._draining


async def test_a_stop_still_delivers_the_queued_chats_within_its_grace(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping in a surge: chats still queued for a delivery slot get their turn within the
    stop's grace, as the chats being delivered do."""
    monkeypatch.setattr(delivery, "MAX_DELIVERING", 2)
    chats = {n: rig.standin.user(n, f"Witness {n}") for n in range(7101, 7108)}
    for chat_id in chats:
        chat_key = rig.store.chat_key(chat_id)
        await rig.store.commit(chat_key, [chat_id.to_bytes(32, "big")], ChatState(),
                               [SendText(chat_id, f"receipt {chat_id}")])
    for chat_id in chats:
        rig.relay.kick(rig.store.chat_key(chat_id))
    assert len(rig.relay._queued) == len(chats) - 2
    await rig.relay.close(timeout_seconds=10.0)
    for chat_id, user in chats.items():
        assert [m.text for m in user.bot_messages()] == [f"receipt {chat_id}"]
