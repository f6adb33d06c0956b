"""No head-of-line blocking in long polling: one chat's slow update (a 30 s download) does not
hold up other chats' updates, even past Telegram's window of 100 unconfirmed updates; it is
parked (sealed in the database) and still processed, also after a restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from telegram import Bot, Update

from bot.telegram import polling
from bot.telegram.parking import UpdateParking
from bot.telegram.polling import AtLeastOncePoller, Process
from crypto.drafts import DraftKeyring
from standin import BotApiStandIn
from storage import Storage

TOKEN = "987654321:TEST-token-for-the-stand-in-only-xyz"
SLOW_CHAT = 760_000
OTHERS = 150  # more than the 100 updates getUpdates hands out past the oldest unconfirmed


async def test_a_slow_update_is_parked_and_other_chats_go_on(
    database_url: str, tmp_path: Path
) -> None:
    storage = await Storage.open(database_url, tmp_path / "blobs")
    keyring = DraftKeyring.from_secret(b"k" * 32)
    release = asyncio.Event()
    processed: list[int] = []

    async def process(updates: Sequence[Update]) -> None:
        chat = updates[0].effective_chat
        if chat is not None and chat.id == SLOW_CHAT:
            await release.wait()  # a download that takes as long as the test wants
        processed.extend(u.update_id for u in updates)

    try:
        async with BotApiStandIn(TOKEN) as standin, Bot(
            TOKEN, base_url=standin.base_url, base_file_url=standin.base_file_url
        ) as bot:
            parking = UpdateParking(storage, keyring, bot)
            poller = AtLeastOncePoller(bot, process, api_url=standin.root_url, poll_timeout=1,
                                       parking=parking, park_after_seconds=0.5)
            stop = asyncio.Event()
            running = asyncio.create_task(poller.run(stop))
            await standin.user(SLOW_CHAT, "Slow").send_text("my big file")
            await asyncio.sleep(0.3)
            for number in range(OTHERS):
                await standin.user(761_000 + number, "Other").send_text("hello")
            async with asyncio.timeout(60):
                while len(processed) < OTHERS:
                    await asyncio.sleep(0.05)
            # Every other chat was answered while the slow one was still in progress...
            assert len(processed) == OTHERS
            assert [u[0] for u in await storage.parked_updates.all()]  # ...which was parked
            # A clean stop finishes what is in progress, and forgets its parked row.
            stop.set()
            release.set()
            await running
            assert len(processed) == OTHERS + 1
            assert await storage.parked_updates.all() == []

            # A crash while a parked update is in progress: the restarted poller processes it
            # from the database (Telegram, told it was taken over, no longer hands it out).
            processed.clear()
            release.clear()
            await standin.user(SLOW_CHAT, "Slow").send_text("another big file")
            crashed = AtLeastOncePoller(bot, process, api_url=standin.root_url,
                                        poll_timeout=1, parking=parking, park_after_seconds=0.3)
            running = asyncio.create_task(crashed.run(asyncio.Event()))
            async with asyncio.timeout(30):
                while not await storage.parked_updates.all():
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.5)  # its next getUpdates confirms past the parked one
            # As a kill -9 would: the slow update's processing ends half-way, then the poller.
            worker = crashed._chats[SLOW_CHAT].worker
            assert worker is not None
            worker.cancel()
            running.cancel()
            await asyncio.gather(worker, running, return_exceptions=True)
            assert processed == []
            release.set()
            restarted = AtLeastOncePoller(bot, process, api_url=standin.root_url,
                                          poll_timeout=1, parking=parking)
            stop = asyncio.Event()
            running = asyncio.create_task(restarted.run(stop))
            async with asyncio.timeout(30):
                while await storage.parked_updates.all():
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.5)  # Telegram would redeliver now, if it still had it
            stop.set()
            await running
            assert len(processed) == 1  # once, from the database, not again from Telegram
    finally:
        await storage.close()


async def test_an_update_done_while_it_was_being_parked_leaves_no_parked_row(
    database_url: str, tmp_path: Path
) -> None:
    """The slow update finishes while its row is being written (a busy database, a loaded
    machine): its row goes at once, not after the next restart, and nothing is processed
    twice."""
    storage = await Storage.open(database_url, tmp_path / "blobs")
    keyring = DraftKeyring.from_secret(b"k" * 32)
    release = asyncio.Event()
    processed: list[int] = []

    async def process(updates: Sequence[Update]) -> None:
        await release.wait()
        processed.extend(u.update_id for u in updates)

    class FinishingWhileParking(UpdateParking):
        async def park(self, updates: Sequence[Update]) -> None:
            await super().park(updates)
            release.set()  # the update ends before the poller hears its row is written
            while not processed:
                await asyncio.sleep(0.01)

    try:
        async with BotApiStandIn(TOKEN) as standin, Bot(
            TOKEN, base_url=standin.base_url, base_file_url=standin.base_file_url
        ) as bot:
            parking = FinishingWhileParking(storage, keyring, bot)
            poller = AtLeastOncePoller(bot, process, api_url=standin.root_url, poll_timeout=1,
                                       parking=parking, park_after_seconds=0.3)
            stop = asyncio.Event()
            running = asyncio.create_task(poller.run(stop))
            await standin.user(SLOW_CHAT, "Slow").send_text("my big file")
            async with asyncio.timeout(30):
                while not processed:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            assert await storage.parked_updates.all() == []
            stop.set()
            await running
            restarted = AtLeastOncePoller(bot, process, api_url=standin.root_url,
                                          poll_timeout=1, parking=parking)
            stop = asyncio.Event()
            running = asyncio.create_task(restarted.run(stop))
            await asyncio.sleep(1.5)
            stop.set()
            await running
            assert len(processed) == 1
    finally:
        await storage.close()


@contextlib.asynccontextmanager
async def _polling(process: Process) -> AsyncIterator[BotApiStandIn]:
    """A poller running `process` against a fresh stand-in, stopped (and awaited) on exit."""
    async with BotApiStandIn(TOKEN) as standin, Bot(
        TOKEN, base_url=standin.base_url, base_file_url=standin.base_file_url
    ) as bot:
        poller = AtLeastOncePoller(bot, process, api_url=standin.root_url, poll_timeout=20)
        stop = asyncio.Event()
        running = asyncio.create_task(poller.run(stop))
        try:
            yield standin
        finally:
            stop.set()
            await running


async def test_once_nothing_is_in_flight_the_next_update_is_fetched_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While updates are in flight the poller asks Telegram again only now and then (each ask
    hands back every unconfirmed update); once they are done it asks at once, and Telegram
    holds the question until the next witness writes. With the busy wait made 30 s long, an
    update sent after the first was processed is still processed within seconds: a fixed
    wait after each fetch (which kept each answer waiting 50 ms on average) would not be."""
    monkeypatch.setattr(polling, "_BUSY_REPOLL_SECONDS", 30.0)
    processed: list[int] = []
    done = asyncio.Event()

    async def process(updates: Sequence[Update]) -> None:
        processed.extend(u.update_id for u in updates)
        done.set()

    async with _polling(process) as standin:
        await standin.user(762_000, "First").send_text("hello")
        async with asyncio.timeout(10):
            await done.wait()
        done.clear()
        await standin.user(762_001, "Next").send_text("hello")
        async with asyncio.timeout(10):
            await done.wait()
        assert len(processed) == 2


async def test_while_one_update_is_slow_another_chat_waits_no_longer_than_the_busy_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One chat's update is slow (its file takes long) and holds Telegram's offset; another
    chat's updates, each sent while the poller waits with nothing new, are fetched within the
    busy wait (made 20 ms here), not after a longer wait for one in flight to end (0.5 s
    before: each of them waited about 0.4 s)."""
    monkeypatch.setattr(polling, "_BUSY_REPOLL_SECONDS", 0.02)
    release = asyncio.Event()
    processed = asyncio.Queue[int]()

    async def process(updates: Sequence[Update]) -> None:
        chat = updates[0].effective_chat
        if chat is not None and chat.id == SLOW_CHAT:
            await release.wait()
        for update in updates:
            processed.put_nowait(update.update_id)

    async with _polling(process) as standin:
        try:
            await standin.user(SLOW_CHAT, "Slow").send_text("my big file")
            await asyncio.sleep(0.3)  # the slow one is in flight, the poller waiting on it
            other = standin.user(763_000, "Other")
            waits = []
            for number in range(5):
                # Long enough for the poller to have asked, found nothing new, and be waiting.
                await asyncio.sleep(0.1)
                sent = asyncio.get_running_loop().time()
                await other.send_text(f"step {number}")
                async with asyncio.timeout(10):
                    await processed.get()
                waits.append(asyncio.get_running_loop().time() - sent)
            assert max(waits) < 0.3, waits
        finally:
            release.set()  # before the poller's stop, which waits for the slow update
