"""The outbox relay: deliver a chat's waiting messages in order, forget each once delivered.

Messages to a witness are written in the same transaction as the state change that caused them
(the transactional outbox), so a crash between the commit and the send re-delivers and never
loses; a crash between the send and the delete may send one message twice, which a witness can
shrug off. The caller holds the chat's lock, so two workers never deliver the same chat at once.

An update hands what it committed (its messages, the chat's state and its sealed bytes) to the
relay, so the relay need not read back and open what it already has. Before sending it checks,
in one query under the chat's lock, that the database still holds exactly that: the first
waiting message is the handed one and the sealed state is byte for byte the one written (a
seal is never made twice: it carries a random nonce). Anything else (another worker took the
chat, a restart, a failure) falls back to reading the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.chat_store import ChatStore, Committed, PendingMessage
from bot.core.chat import ChatState, DeleteTrail, Outgoing, SendText
from bot.telegram.messages import send_text
from bot.telegram.send_budget import Deck, NotDue, Slot
from bot.telegram.sender import BotApiSender, is_transient
from storage import Storage

log = logging.getLogger("intake.outbox")

# Telegram deletes at most 100 messages per call.
_DELETE_BATCH = 100
# Chats delivered at once. The rest wait as a key in a queue, not as a task parked on the rate
# limiter: a surge of 10,000 witnesses costs 10,000 keys, not 10,000 tasks with their frames
# (bench/drafts_memory.py). 30 messages a second overall need far fewer at once.
MAX_DELIVERING = 256
# Chats whose hand-over is kept at once. In a surge, thousands of chats wait for Telegram's
# 30 messages a second, and each hand-over holds the chat's plaintext state; past this many,
# a chat's messages are read back from the outbox when their turn comes, as without it. As many
# as are delivered at once: a chat queued behind them waits seconds anyway, and its plaintext
# is better not held meanwhile (1,000 held 1.5 MB more at 10,000 drafts, bench/drafts_memory.py).
_MAX_HANDED = MAX_DELIVERING
# With a budget shared by workers, a sender on deck finding its chat's lock taken (an update
# being processed, or another worker delivering it) gives its place up and tries again after
# this long, rather than hold the place while it waits.
_BUSY_CHAT_SECONDS = 0.02
# How long a sender on deck waits for a slot with its chat's lock held: a few slots of every
# worker's. Longer (a 429 pauses the budget), it lets the lock go and waits without it.
_DECK_PATIENCE = 0.5


@dataclass
class _Handed:
    """A chat's waiting messages and state as this process last wrote them."""

    state: ChatState
    sealed_state: bytes | None
    messages: list[PendingMessage]


class OutboxRelay:
    def __init__(self, bot: Bot, sender: BotApiSender, store: ChatStore, storage: Storage) -> None:
        self._bot = bot
        self._sender = sender
        self._store = store
        self._storage = storage
        self._draining: dict[str, asyncio.Task[None]] = {}
        self._queued: dict[str, None] = {}  # chats waiting for a delivery slot, in order
        self._handed: dict[str, _Handed] = {}
        self._again: set[str] = set()
        # Failed tries of each chat's next message, waited out with the chat's lock released.
        self._failures: dict[str, int] = {}
        self._closed = False  # stopping: no new kicks; queued chats still get their turn
        self._stopped = False  # past the stop's grace: nothing more starts

    async def send_now(
        self, message: SendText, state: ChatState, *, wait_for_rate: bool = True
    ) -> None:
        """Best effort, not durable: a note before long work ("Sending…"), or the one notice
        to a flooding chat (which must not queue behind that chat's rate); failures ignored."""
        try:
            sent = await self._sender.call(message.chat_id, lambda: send_text(self._bot, message),
                                           reserved=not wait_for_rate)
        except TelegramError as error:
            log.info("message.not_sent", extra={"error": type(error)})
            return
        if not message.keep:
            state.remember(sent)

    async def deliver_held(self, chat_key: str, state: ChatState, committed: Committed) -> None:
        """Deliver an update's committed messages now, before its long work, while the caller
        holds the chat's lock (the caller checked that nothing waits before them). A failure
        leaves the rest in the outbox for the relay."""
        for message in committed.messages:
            try:
                await self._perform(message.outgoing, state)
            except TelegramError as error:
                log.info("message.deferred", extra={"error": type(error)})
                return
            await self._delivered(chat_key, message.entry_id, state)

    def hand_over(self, chat_key: str, state: ChatState, committed: Committed) -> None:
        """Called under the chat's lock right after an update's commit: keep what it wrote.

        Only when its messages are the next to send and fewer than `_MAX_HANDED` chats hold
        one; otherwise the messages are read from the outbox when their turn comes.
        """
        if committed.after_others or not committed.messages or (
            chat_key not in self._handed and len(self._handed) >= _MAX_HANDED
        ):
            self._handed.pop(chat_key, None)
            return
        self._handed[chat_key] = _Handed(state, committed.sealed_state, list(committed.messages))

    def kick(self, chat_key: str) -> None:
        """Deliver this chat's waiting messages in the background, in order.

        An update counts as processed once its outbox is committed, so a chat whose messages
        wait for Telegram's per-chat rate (or a back-off) never holds up later updates.
        """
        if self._closed:
            return  # stopping: what waits is delivered after the next start
        task = self._draining.get(chat_key)
        if task is not None and not task.done():
            self._again.add(chat_key)
            return
        if len(self._draining) >= MAX_DELIVERING:
            self._queued[chat_key] = None
            return
        self._draining[chat_key] = asyncio.create_task(self._drain(chat_key))

    def _start_queued(self) -> None:
        while self._queued and len(self._draining) < MAX_DELIVERING and not self._stopped:
            chat_key = next(iter(self._queued))
            del self._queued[chat_key]
            task = self._draining.get(chat_key)
            if task is not None and not task.done():
                self._again.add(chat_key)
            else:
                self._draining[chat_key] = asyncio.create_task(self._drain(chat_key))

    async def _drain(self, chat_key: str) -> None:
        try:
            while True:
                self._again.discard(chat_key)
                more = await self.deliver_next(chat_key)
                if not more and chat_key not in self._again:
                    return
        except asyncio.CancelledError:
            self._handed.pop(chat_key, None)
            self._failures.pop(chat_key, None)
            raise
        except Exception as error:  # the relay's next round tries again, from the outbox
            self._handed.pop(chat_key, None)
            self._failures.pop(chat_key, None)
            log.warning("outbox.deferred", extra={"error": type(error)})
        finally:
            if self._draining.get(chat_key) is asyncio.current_task():
                del self._draining[chat_key]
            self._start_queued()

    async def deliver_next(self, chat_key: str) -> bool:
        """Deliver the chat's oldest waiting message; True if more may be waiting.

        The chat's rate slot and the bot's next send slot are waited for before the chat's lock
        is taken, and the lock is held for one try only: a failed try (a 429, a 5xx, a dropped
        connection) is waited out with the lock released, so neither the queue for send slots
        nor a back-off ever holds up another update of the chat, on any worker. After the
        sender's number of tries, the message is left for the relay's next round. With a
        budget shared by workers, the bot's slot is claimed under the lock once the message is
        known to be still waiting, by at most a few senders of this process at once (on deck),
        each holding its chat's lock for a few slots' time at most.
        """
        handed = self._handed.get(chat_key)
        if handed is not None:
            pending = handed.messages
        else:
            pending = await self._store.pending(chat_key)
        if not pending:
            return False
        first = pending[0]
        slot = None
        if isinstance(first.outgoing, SendText):
            slot = await self._sender.reserve(first.outgoing.chat_id)
        try:
            try:
                more = await self._deliver_locked(chat_key, first.entry_id, slot)
            finally:
                if slot is not None:
                    slot.give_back()  # unless a message left on it
        except Exception as error:
            if not is_transient(error):
                raise
            failures = self._failures.get(chat_key, 0) + 1
            if failures >= self._sender.attempts:
                self._failures.pop(chat_key, None)
                raise
            self._failures[chat_key] = failures
            self._sender.count_retry(error, failures)
            await asyncio.sleep(self._sender.backoff(error, failures))
            return True
        self._failures.pop(chat_key, None)
        return more

    async def _deliver_locked(
        self, chat_key: str, first_id: str, slot: Slot | None
    ) -> bool:
        if not self._sender.claims_at_send:
            return await self._deliver_when_free(chat_key, first_id, slot)
        while True:
            # Only senders on deck hold a chat's lock waiting for a slot, and one never waits
            # for a chat's lock holding its place (others would wait behind it).
            wait = _BUSY_CHAT_SECONDS
            try:
                async with self._sender.on_deck() as deck, \
                        self._storage.try_chat_lock(chat_key) as held:
                    if held:
                        return await self._deliver_first(chat_key, first_id, slot, deck)
            except NotDue as far:
                wait = far.wait
            await asyncio.sleep(wait)

    async def _deliver_when_free(
        self, chat_key: str, first_id: str, slot: Slot | None
    ) -> bool:
        """With a local budget: under the chat's lock, once it is free, one try at its first
        waiting message. While an update of the chat holds the lock (often the one that just
        handed these messages over; a Send may be sealing its files), the permit goes back
        rather than sit idle (30 such chats would stop every chat's messages), and a new one
        is taken once the lock is free."""
        try:
            while True:
                async with self._storage.try_chat_lock(chat_key) as held:
                    if held:
                        return await self._deliver_first(chat_key, first_id, slot, None)
                if slot is not None:
                    slot.give_back()
                async with self._storage.chat_lock(chat_key):
                    pass
                if slot is not None:
                    slot = await self._sender.reserve_again()
        finally:
            if slot is not None:
                slot.give_back()  # unless a message left on it

    async def _deliver_first(
        self, chat_key: str, first_id: str, slot: Slot | None, deck: Deck | None
    ) -> bool:
        """Under the chat's lock: one try at its first waiting message."""
        pending, state = await self._waiting(chat_key)
        if not pending:
            return False
        message = pending[0]
        reserved = message.entry_id == first_id
        if deck is not None:
            if reserved and isinstance(message.outgoing, SendText):
                # Still waiting, and sent right after: now is the time to spend a slot.
                slot = await self._sender.claim(patience=_DECK_PATIENCE)
            deck.release()
        try:
            # A claimed shared slot is this message's; a local permit is any message's (one
            # that came first meanwhile, a "Sending…", leaves on it rather than on a second).
            await self._perform(message.outgoing, state, reserved=reserved,
                                slot=slot if reserved or deck is None else None)
        except Forbidden:
            # The witness blocked the bot or deleted the chat: nothing can reach them.
            log.info("chat.unreachable")
            for unreachable in pending:
                await self._delivered(chat_key, unreachable.entry_id, state)
            return False
        except BadRequest as error:
            log.warning("outbox.refused", extra={"error": type(error)})
            if isinstance(message.outgoing, SendText) and message.outgoing.keep:
                # The receipt could not be delivered: keep the conversation on the phone
                # rather than leave the witness with neither.
                await self._drop_next_clear(chat_key, pending[1:], state)
        # Other errors (a try that failed) leave the message waiting, in order.
        more = len(pending) > 1
        await self._delivered(chat_key, message.entry_id, state)
        return more

    async def _waiting(self, chat_key: str) -> tuple[list[PendingMessage], ChatState]:
        """Under the chat's lock: its waiting messages, in order, and its state.

        What an update handed over, if the database still holds exactly that (one query);
        otherwise read from the outbox and opened.
        """
        handed = self._handed.get(chat_key)
        if handed is not None:
            first_id, sealed_state = await self._store.head(chat_key)
            if first_id == handed.messages[0].entry_id and sealed_state == handed.sealed_state:
                return list(handed.messages), handed.state
            del self._handed[chat_key]
        pending = await self._store.pending(chat_key)
        if not pending:
            return [], ChatState()
        return pending, await self._store.load(chat_key)

    async def _delivered(self, chat_key: str, entry_id: str, state: ChatState) -> None:
        sealed_state = await self._store.delivered(entry_id, chat_key, state)
        handed = self._handed.get(chat_key)
        if handed is None:
            return
        handed.messages = [m for m in handed.messages if m.entry_id != entry_id]
        if handed.messages:
            handed.state, handed.sealed_state = state, sealed_state
        else:
            del self._handed[chat_key]

    async def _drop_next_clear(
        self, chat_key: str, later: list[PendingMessage], state: ChatState
    ) -> None:
        for following in later:
            if isinstance(following.outgoing, DeleteTrail):
                await self._delivered(chat_key, following.entry_id, state)
                return

    async def close(self, timeout_seconds: float) -> None:
        """On stop: give what is being delivered, and the chats queued behind it, a moment to
        finish, then stop delivering; what is left waits in the outbox for the next start."""
        self._closed = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        # Chats queued in a surge start as others finish, so wait until none is left running.
        while tasks := [t for t in self._draining.values() if not t.done()]:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(tasks, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        self._stopped = True
        late = [t for t in self._draining.values() if not t.done()]
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _perform(
        self, outgoing: Outgoing, state: ChatState, *, reserved: bool = False,
        slot: Slot | None = None,
    ) -> None:
        """One try (the caller waits out a failure with the chat's lock released)."""
        if isinstance(outgoing, SendText):
            sent = await self._sender.call(
                outgoing.chat_id, lambda: send_text(self._bot, outgoing),
                reserved=reserved, retry=False, slot=slot)
            if not outgoing.keep:
                state.remember(sent)
        elif isinstance(outgoing, DeleteTrail):
            ids = sorted(set(state.trail))
            await self._delete(outgoing.chat_id, ids)
            state.trail = [i for i in state.trail if i not in set(ids)]
            # No count: beside report.committed it would match a chat to its report.
            log.info("chat.cleared")
        else:
            await self._delete(outgoing.chat_id, list(outgoing.message_ids))

    async def _delete(self, chat_id: int, ids: list[int]) -> None:
        for start in range(0, len(ids), _DELETE_BATCH):
            batch = ids[start : start + _DELETE_BATCH]
            # Messages older than 48 hours, or already deleted by the witness, cannot be
            # deleted; that must not stop the rest.
            with contextlib.suppress(BadRequest):
                await self._sender.call(
                    chat_id, lambda b=batch: self._bot.delete_messages(chat_id, b),  # type: ignore[misc]
                    sends_message=False, retry=False,
                )

    async def run(self, interval_seconds: float = 2.0) -> None:
        """Deliver what earlier attempts (or a worker that died) left, until cancelled."""
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                after = ""
                while page := await self._store.chats_with_pending(after=after):
                    for chat_key in page:
                        self.kick(chat_key)
                    after = page[-1]
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the next round tries again; the bot keeps serving
                log.warning("outbox.relay_failed", extra={"error": type(error)})
