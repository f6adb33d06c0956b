"""Chat state and outgoing messages at rest: sealed with the draft key, never plaintext.

A thin adapter between the runtime's plain values (bot.core.chat) and the storage rows: it
seals with the draft keyring (whose secret is not in the database), keys rows by a keyed
pseudonym of the chat, and writes one update's effects in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.core.chat import (
    ChatState,
    CodecError,
    Outgoing,
    decode_outgoing,
    decode_state,
    encode,
)
from crypto import DecryptionError
from crypto.drafts import PURPOSE_CHAT_STATE, PURPOSE_OUTBOX, DraftKeyring
from storage import NewReport, Storage
from storage.send_budget import bot_tag

log = logging.getLogger("intake.chats")

_STATE = PURPOSE_CHAT_STATE
_OUTBOX = PURPOSE_OUTBOX
# Telegram keeps an undelivered update for a day; a message that could not be delivered in two
# is dropped by the sweep, so the outbox is read with keys up to that age.
OUTBOX_LIFETIME_DAYS = 2


@dataclass(frozen=True)
class PendingMessage:
    entry_id: str
    outgoing: Outgoing


@dataclass(frozen=True)
class Committed:
    """What one update's commit stored: its messages, in order, and the chat's sealed state
    exactly as written (None: no state row). `after_others`: older messages of the chat were
    still waiting, so these are not the next to send."""

    messages: list[PendingMessage]
    sealed_state: bytes | None
    after_others: bool


class ChatStore:
    def __init__(
        self,
        storage: Storage,
        keyring: DraftKeyring,
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.time,
        bot_id: int | None = None,
    ) -> None:
        """`bot_id`: a bot of a channel's own (None: the deployment's bot). Its chats get keys
        of their own and its outbox rows its tag, so no other bot reads or sends them."""
        self._conversations = storage.conversations
        self._bot_id = bot_id
        self._bot_tag = None if bot_id is None else bot_tag(bot_id)
        self._keyring = keyring
        self._ttl = ttl_seconds
        self._clock = clock
        self._state_lifetime_days = max(1, math.ceil(ttl_seconds / 86_400))

    def chat_key(self, chat_id: int) -> str:
        return self._keyring.chat_key(chat_id, self._bot_id)

    def update_key(self, bot_id: int, update_id: int) -> bytes:
        return self._keyring.update_key(bot_id, update_id)

    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC).date()

    async def load(self, chat_key: str) -> ChatState:
        """The chat's state, or a fresh one if there is none, it expired or cannot be read."""
        return self._open_state(chat_key, await self._conversations.load(chat_key))

    async def begin(
        self, chat_key: str, update_keys: Sequence[bytes]
    ) -> tuple[set[bytes], ChatState]:
        """Before an update runs, in one read: which of its marks exist, and the chat's state."""
        marked, sealed = await self._conversations.snapshot(chat_key, update_keys)
        return marked, self._open_state(chat_key, sealed)

    def _open_state(self, chat_key: str, sealed: bytes | None) -> ChatState:
        if sealed is None:
            return ChatState()
        try:
            plain = self._keyring.open(
                _STATE, chat_key, sealed, day=self._today(),
                lifetime_days=self._state_lifetime_days,
            )
            state = decode_state(plain)
        except (DecryptionError, CodecError) as error:
            # Sealed under a key this process does not have (ephemeral mode after a restart,
            # or a rotated secret): the conversation starts afresh.
            log.warning("chat_state.unreadable", extra={"error": type(error)})
            return ChatState()
        if self._clock() - state.last_active > self._ttl:
            return ChatState()
        return state

    async def is_processed(self, update_key: bytes) -> bool:
        return await self._conversations.is_processed(update_key)

    async def commit(
        self,
        chat_key: str,
        update_keys: Sequence[bytes],
        state: ChatState,
        outgoing: Sequence[Outgoing],
        report: NewReport | None = None,
    ) -> Committed:
        """State, messages to send, the updates' marks and the report: one transaction."""
        state.last_active = self._clock()
        day = self._today()
        sealed_state = self._seal_state(chat_key, state, day)
        entries = await self._conversations.commit_update(
            chat_key=chat_key,
            update_key=update_keys[0] if update_keys else None,
            more_update_keys=update_keys[1:],
            state=sealed_state,
            expires=self._expires(),
            outbox=[self._keyring.seal(_OUTBOX, chat_key, encode(o), day=day) for o in outgoing],
            report=report,
            bot=self._bot_tag,
        )
        messages = [
            PendingMessage(entry.entry_id, message)
            for entry, message in zip(entries, outgoing, strict=True)
        ]
        return Committed(messages, sealed_state, bool(entries) and entries[0].seq != 0)

    async def head(self, chat_key: str) -> tuple[str | None, bytes | None]:
        """The chat's oldest waiting message's id and its sealed state as stored."""
        return await self._conversations.head(chat_key)

    async def has_pending(self, chat_key: str) -> bool:
        return await self._conversations.has_pending(chat_key)

    async def pending(self, chat_key: str) -> list[PendingMessage]:
        messages: list[PendingMessage] = []
        day = self._today()
        for entry in await self._conversations.pending(chat_key):
            try:
                plain = self._keyring.open(
                    _OUTBOX, chat_key, entry.sealed, day=day, lifetime_days=OUTBOX_LIFETIME_DAYS
                )
                messages.append(PendingMessage(entry.entry_id, decode_outgoing(plain)))
            except (DecryptionError, CodecError) as error:
                # Sealed under a key this process lacks (another worker's, or one lost in a
                # restart): left for the sweep, never deleted here, so no worker can throw
                # away another's receipt.
                log.warning("outbox.unreadable", extra={"error": type(error)})
        return messages

    async def chats_with_pending(self, limit: int = 100, *, after: str = "") -> list[str]:
        return await self._conversations.chats_with_pending(limit, after=after, bot=self._bot_tag)

    async def delivered(self, entry_id: str, chat_key: str, state: ChatState) -> bytes | None:
        """Forget a delivered message and keep the trail it added, in one transaction; returns
        the chat's sealed state as written (None: no state row)."""
        sealed = self._seal_state(chat_key, state, self._today())
        await self._conversations.delivered(
            entry_id, chat_key=chat_key, state=sealed, expires=self._expires()
        )
        return sealed

    def _seal_state(self, chat_key: str, state: ChatState, day: dt.date) -> bytes | None:
        if state.is_empty:
            return None
        return self._keyring.seal(_STATE, chat_key, encode(state), day=day)

    def _expires(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock() + self._ttl, dt.UTC)
