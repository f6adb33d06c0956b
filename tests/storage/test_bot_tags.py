"""Several bots in one store: each bot's relay finds only its own chats' waiting messages, and
each poller only its own parked updates (real SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from storage import Storage
from storage.send_budget import bot_tag

NOW = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)
PARTNER = bot_tag(123456789)


async def test_outbox_scan_is_per_bot(storage: Storage) -> None:
    """Rows of the deployment's bot (no tag, as before the migration) and of a partner's bot:
    each scan lists its own chats only, and the two never mix."""
    conversations = storage.conversations
    mine, theirs = "a" * 64, "b" * 64
    await conversations.commit_update(chat_key=mine, update_key=None, state=None,
                                      expires=NOW, outbox=[b"sealed-1"], today=NOW.date())
    await conversations.commit_update(chat_key=theirs, update_key=None, state=None,
                                      expires=NOW, outbox=[b"sealed-2", b"sealed-3"],
                                      today=NOW.date(), bot=PARTNER)
    assert await conversations.chats_with_pending() == [mine]
    assert await conversations.chats_with_pending(bot=PARTNER) == [theirs]
    assert await conversations.chats_with_pending(bot=bot_tag(42)) == []
    assert [e.sealed for e in await conversations.pending(theirs)] == [b"sealed-2", b"sealed-3"]


async def test_parked_updates_are_per_bot(storage: Storage) -> None:
    parked = storage.parked_updates
    await parked.park([(b"k" * 32, b"main")], NOW.date())
    await parked.park([(b"p" * 32, b"partner")], NOW.date(), bot=PARTNER)
    assert [row[1] for row in await parked.all()] == [b"main"]
    assert [row[1] for row in await parked.all(bot=PARTNER)] == [b"partner"]
