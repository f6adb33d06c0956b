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

from bot.chat_store import ChatStore
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

    async def send_now(self, message: SendText, state: ChatState) -> None:
        """Best effort, not durable: a note before long work ("Sending…"); failures ignored."""
        try:
            sent = await self._sender.call(message.chat_id, lambda: self._bot.send_message(
                message.chat_id, message.text, reply_markup=keyboard(message),
                protect_content=True))
        except TelegramError as error:
            log.info("message.not_sent", extra={"error": type(error)})
            return
        if not message.keep:
            state.remember(sent.message_id)

    async def deliver(self, chat_key: str, state: ChatState | None = None) -> bool:
        """Deliver what waits for this chat (the caller holds its lock); False if some is left."""
        pending = await self._store.pending(chat_key)
        if not pending:
            return True
        if state is None:
            state = await self._store.load(chat_key)
        unreachable = False
        for message in pending:
            if not unreachable:
                try:
                    await self._perform(message.outgoing, state)
                except Forbidden:
                    # The witness blocked the bot or deleted the chat: nothing can reach them.
                    log.info("chat.unreachable")
                    unreachable = True
                except BadRequest as error:
                    log.warning("outbox.refused", extra={"error": type(error)})
                except TelegramError as error:
                    # Still failing after the sender's retries: the relay tries again later.
                    log.warning("outbox.deferred", extra={"error": type(error)})
                    return False
            await self._store.delivered(message.entry_id, chat_key, state)
        return True

    async def _perform(self, outgoing: Outgoing, state: ChatState) -> None:
        if isinstance(outgoing, SendText):
            sent = await self._sender.call(outgoing.chat_id, lambda: self._bot.send_message(
                outgoing.chat_id, outgoing.text, reply_markup=keyboard(outgoing),
                protect_content=True))
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
                for chat_key in await self._store.chats_with_pending():
                    async with self._storage.chat_lock(chat_key):
                        await self.deliver(chat_key)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the next round tries again; the bot keeps serving
                log.warning("outbox.relay_failed", extra={"error": type(error)})
