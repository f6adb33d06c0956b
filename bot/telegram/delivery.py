"""The outbox relay: deliver a chat's waiting messages in order, forget each once delivered.

Messages to a witness are written in the same transaction as the state change that caused them
(the transactional outbox), so a crash between the commit and the send re-delivers and never
loses; a crash between the send and the delete may send one message twice, which a witness can
shrug off. The caller holds the chat's lock, so two workers never deliver the same chat at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.chat_store import ChatStore, PendingMessage
from bot.core.chat import ChatState, DeleteTrail, Outgoing, SendText
from bot.telegram.sender import BotApiSender
from storage import Storage

log = logging.getLogger("intake.outbox")

# Telegram deletes at most 100 messages per call.
_DELETE_BATCH = 100


def keyboard(message: SendText) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(b.label, callback_data=b.token) for b in row]
        for row in message.buttons
    ])


class OutboxRelay:
    def __init__(self, bot: Bot, sender: BotApiSender, store: ChatStore, storage: Storage) -> None:
        self._bot = bot
        self._sender = sender
        self._store = store
        self._storage = storage
        self._draining: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._closed = False

    async def send_now(
        self, message: SendText, state: ChatState, *, wait_for_rate: bool = True
    ) -> None:
        """Best effort, not durable: a note before long work ("Sending…"), or the one notice
        to a flooding chat (which must not queue behind that chat's rate); failures ignored."""
        try:
            sent = await self._sender.call(message.chat_id, lambda: self._bot.send_message(
                message.chat_id, message.text, reply_markup=keyboard(message),
                protect_content=True), reserved=not wait_for_rate)
        except TelegramError as error:
            log.info("message.not_sent", extra={"error": type(error)})
            return
        if not message.keep:
            state.remember(sent.message_id)

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
        self._draining[chat_key] = asyncio.create_task(self._drain(chat_key))

    async def _drain(self, chat_key: str) -> None:
        try:
            while True:
                self._again.discard(chat_key)
                more = await self.deliver_next(chat_key)
                if not more and chat_key not in self._again:
                    return
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the relay's next round tries again
            log.warning("outbox.deferred", extra={"error": type(error)})
        finally:
            if self._draining.get(chat_key) is asyncio.current_task():
                del self._draining[chat_key]

    async def deliver_next(self, chat_key: str) -> bool:
        """Deliver the chat's oldest waiting message; True if more may be waiting.

        The chat's rate slot is waited for before its lock is taken. Retries of a failed call
        (a 429's `retry_after`, a 5xx back-off) do run under the lock: that holds up only this
        chat, whose next message must wait for this one anyway.
        """
        pending = await self._store.pending(chat_key)
        if not pending:
            return False
        first = pending[0]
        if isinstance(first.outgoing, SendText):
            await self._sender.reserve(first.outgoing.chat_id)
        async with self._storage.chat_lock(chat_key):
            pending = await self._store.pending(chat_key)
            if not pending:
                return False
            message = pending[0]
            reserved = message.entry_id == first.entry_id
            state = await self._store.load(chat_key)
            try:
                await self._perform(message.outgoing, state, reserved=reserved)
            except Forbidden:
                # The witness blocked the bot or deleted the chat: nothing can reach them.
                log.info("chat.unreachable")
                for unreachable in pending:
                    await self._store.delivered(unreachable.entry_id, chat_key, state)
                return False
            except BadRequest as error:
                log.warning("outbox.refused", extra={"error": type(error)})
                if isinstance(message.outgoing, SendText) and message.outgoing.keep:
                    # The receipt could not be delivered: keep the conversation on the phone
                    # rather than leave the witness with neither.
                    await self._drop_next_clear(chat_key, pending[1:], state)
            # Other errors (still failing after the sender's retries) leave the message for
            # the relay's next round.
            await self._store.delivered(message.entry_id, chat_key, state)
            return len(pending) > 1

    async def _drop_next_clear(
        self, chat_key: str, later: list[PendingMessage], state: ChatState
    ) -> None:
        for following in later:
            if isinstance(following.outgoing, DeleteTrail):
                await self._store.delivered(following.entry_id, chat_key, state)
                return

    async def close(self, timeout_seconds: float) -> None:
        """On stop: give what is being delivered a moment to finish, then stop delivering;
        what is left waits in the outbox for the next start."""
        self._closed = True
        tasks = [t for t in self._draining.values() if not t.done()]
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=timeout_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _perform(
        self, outgoing: Outgoing, state: ChatState, *, reserved: bool = False
    ) -> None:
        if isinstance(outgoing, SendText):
            sent = await self._sender.call(outgoing.chat_id, lambda: self._bot.send_message(
                outgoing.chat_id, outgoing.text, reply_markup=keyboard(outgoing),
                protect_content=True), reserved=reserved)
            if not outgoing.keep:
                state.remember(sent.message_id)
        elif isinstance(outgoing, DeleteTrail):
            ids = sorted(set(state.trail))
            await self._delete(outgoing.chat_id, ids)
            state.trail = [i for i in state.trail if i not in set(ids)]
            log.info("chat.cleared", extra={"count": len(ids)})
        else:
            await self._delete(outgoing.chat_id, list(outgoing.message_ids))

    async def _delete(self, chat_id: int, ids: list[int]) -> None:
        for start in range(0, len(ids), _DELETE_BATCH):
            batch = ids[start : start + _DELETE_BATCH]
            # Messages older than 48 hours, or already deleted by the witness, cannot be
            # deleted; that must not stop the rest.
            with contextlib.suppress(BadRequest):
                await self._sender.call(
                    chat_id, lambda b=batch: self._bot.delete_messages(chat_id, b)  # type: ignore[misc]
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
