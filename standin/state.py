"""The stand-in's world: users, private chats, messages, the update queue and stored files."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standin.models import (
    ApiError,
    BotMessage,
    JSONDict,
    RecordedCall,
    StoredFile,
    StoredMessage,
)

#: Update types delivered when ``allowed_updates`` is unset or empty (Bot API default).
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_FIRST_UPDATE_ID = 700_000_001
_CONFLICT_OTHER_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
_CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)


def _opaque_id(*parts: object, length: int) -> str:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return base64.urlsafe_b64encode(digest * 2).decode().rstrip("=")[:length]


@dataclass
class CallbackRecord:
    """A callback query a fake user sent, and the bot's answer once it arrives."""

    query_id: str
    chat_id: int
    message_id: int
    data: str
    answer: JSONDict | None = None


@dataclass
class ChatState:
    """One private chat: the user, the visible messages and the bot messages not yet read."""

    user: JSONDict
    chat: JSONDict
    chat_instance: str
    next_message_id: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    pending: deque[BotMessage] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    reply_keyboard: list[list[str]] | None = None
    last_action: str | None = None
    blocked: bool = False

    @property
    def chat_id(self) -> int:
        """The chat id (equal to the user id in a private chat)."""
        return int(self.chat["id"])

    def allocate_message_id(self) -> int:
        """The next message_id of this chat (shared by user and bot messages)."""
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def publish(self, message: StoredMessage, method: str) -> None:
        """Queue a snapshot of a bot message for :meth:`FakeUser.next_bot_message`."""
        message.last_method = method
        self.pending.append(message.snapshot(method))
        self.wakeup.set()


class StandInState:
    """Everything Telegram would know about the bot, its users and their chats."""

    def __init__(
        self,
        token: str,
        *,
        bot_username: str,
        bot_name: str,
        max_download_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() and len(head) < 16 else 1_000_000_001
        self.bot_user: JSONDict = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self.max_download_bytes = max_download_bytes
        self.clock = clock
        self.chats: dict[int, ChatState] = {}
        self.updates: list[JSONDict] = []
        self.history: list[JSONDict] = []
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.callbacks: dict[str, CallbackRecord] = {}
        self.commands: dict[str, list[JSONDict]] = {}
        #: The webhook as getWebhookInfo shows it (url, max_connections, ...), or None.
        self.webhook: JSONDict | None = None
        #: setWebhook's secret_token (never shown by getWebhookInfo), or None.
        self.webhook_secret: str | None = None
        #: Called on every change of the update queue (the webhook deliverer listens).
        self.listeners: list[Callable[[], None]] = []
        self.allowed_updates: list[str] | None = None
        self.calls: list[RecordedCall] = []
        self.downloads: list[str] = []
        self.closing = False
        self._next_update_id = _FIRST_UPDATE_ID
        self._file_counter = 0
        self._callback_counter = 0
        self._poll_generation = 0
        self._changed = asyncio.Event()

    def now(self) -> int:
        """The current Unix time, as Telegram's ``date`` fields carry it."""
        return int(self.clock())

    # -- users and chats ------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        username: str | None,
        last_name: str | None,
        language_code: str | None,
    ) -> ChatState:
        """Register a user and their private chat with the bot (idempotent per user id)."""
        if user_id in self.chats:
            return self.chats[user_id]
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        chat: JSONDict = {"id": user_id, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = chat["last_name"] = last_name
        if username is not None:
            user["username"] = chat["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        chat["type"] = "private"
        instance = str(-(7_000_000_000_000_000_000 // 2 + user_id * 7919))
        self.chats[user_id] = ChatState(user=user, chat=chat, chat_instance=instance)
        return self.chats[user_id]

    def chat_for(self, chat_id: Any) -> ChatState:
        """The chat a bot call names, or 400 "chat not found"."""
        key: int | None = None
        if isinstance(chat_id, int) and not isinstance(chat_id, bool):
            key = chat_id
        elif isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            key = int(chat_id)
        if key is None or key not in self.chats:
            raise ApiError.bad_request("chat not found")
        return self.chats[key]

    # -- the update queue and long polling -------------------------------------------------

    def notify(self) -> None:
        """Wake waiting long polls and listeners: the update queue or webhook changed."""
        self._changed.set()
        self._changed = asyncio.Event()
        for listener in self.listeners:
            listener()

    def is_allowed(self, update: JSONDict) -> bool:
        """Whether ``allowed_updates`` lets this update through (Bot API default otherwise)."""
        wanted = self.allowed_updates
        kind = next(k for k in update if k != "update_id")
        return kind in wanted if wanted else kind not in _OPT_IN_UPDATES

    def push_update(self, kind: str, payload: JSONDict) -> int:
        """Append an update of type ``kind`` and wake any waiting getUpdates."""
        update_id = self._next_update_id
        self._next_update_id += 1
        update = {"update_id": update_id, kind: copy.deepcopy(payload)}
        self.updates.append(update)
        self.history.append(copy.deepcopy(update))
        self.notify()
        return update_id

    def redeliver_last_update(self, chat_id: int, *, keep_update_id: bool = False) -> int:
        """Queue the chat's latest update again, unchanged.

        By default under a new update_id; with ``keep_update_id`` under its original one, which
        is what Telegram does when a bot crashed before confirming the update.
        """
        for update in reversed(self.history):
            kind, payload = next((k, v) for k, v in update.items() if k != "update_id")
            message = payload.get("message", payload) if kind == "callback_query" else payload
            if message.get("chat", {}).get("id") == chat_id:
                if not keep_update_id:
                    return self.push_update(kind, payload)
                self.updates.append(copy.deepcopy(update))
                self.notify()
                return int(update["update_id"])
        raise ValueError(f"chat {chat_id} has no update to redeliver")

    def drop_pending_updates(self) -> None:
        """Forget every unconfirmed update (deleteWebhook/setWebhook drop_pending_updates)."""
        self.updates.clear()

    def close(self) -> None:
        """Make every waiting getUpdates return at once (used on shutdown)."""
        self.closing = True
        self.notify()

    def _confirm(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        else:
            self.updates = self.updates[offset:]

    def _select(self, limit: int) -> list[JSONDict]:
        self.updates = [u for u in self.updates if self.is_allowed(u)]
        return copy.deepcopy(self.updates[:limit])

    async def get_updates(
        self, offset: int | None, limit: int, wait_seconds: float, allowed: list[str] | None
    ) -> list[JSONDict]:
        """getUpdates: confirm by offset, then wait up to ``wait_seconds`` for an update."""
        if self.webhook is not None:
            raise ApiError(_CONFLICT_WEBHOOK, 409)
        self._poll_generation += 1
        generation = self._poll_generation
        self.notify()  # an older, still waiting poll now ends with 409 like on Telegram
        if allowed is not None:
            self.allowed_updates = list(allowed) or None
        self._confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, wait_seconds)
        while True:
            if generation != self._poll_generation:
                raise ApiError(_CONFLICT_OTHER_POLL, 409)
            batch = self._select(limit)
            remaining = deadline - loop.time()
            if batch or self.closing or remaining <= 0:
                return batch
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    # -- messages --------------------------------------------------------------------------

    def add_user_message(self, chat: ChatState, kind: str, fields: JSONDict) -> StoredMessage:
        """Store a message the user sent and queue the ``message`` update for the bot."""
        data: JSONDict = {
            "message_id": chat.allocate_message_id(),
            "from": dict(chat.user),
            "chat": dict(chat.chat),
            "date": self.now(),
        }
        data.update(fields)
        stored = StoredMessage(data=data, from_bot=False, kind=kind)
        chat.messages[stored.message_id] = stored
        self.push_update("message", data)
        return stored

    def edit_user_message(self, chat: ChatState, message_id: int, text: str) -> None:
        """The user edits one of their text messages (``edited_message`` update)."""
        stored = chat.messages.get(message_id)
        if stored is None or stored.from_bot or stored.kind != "text":
            raise ValueError(f"no text message {message_id} from the user in this chat")
        stored.data["text"] = text
        stored.data["edit_date"] = self.now()
        stored.edited = True
        self.push_update("edited_message", stored.data)

    def add_bot_message(self, chat: ChatState, fields: JSONDict) -> StoredMessage:
        """Store a message the bot sent; the caller fills tracking fields and publishes."""
        data: JSONDict = {
            "message_id": chat.allocate_message_id(),
            "from": dict(self.bot_user),
            "chat": dict(chat.chat),
            "date": self.now(),
        }
        data.update(fields)
        stored = StoredMessage(data=data, from_bot=True, kind="text")
        chat.messages[stored.message_id] = stored
        return stored

    def delete_message(self, chat: ChatState, message_id: int) -> bool:
        """Remove a message from the chat; ``False`` if it is not there."""
        return chat.messages.pop(message_id, None) is not None

    # -- files -----------------------------------------------------------------------------

    def add_file(self, directory: str, extension: str, data: bytes | None, size: int) -> StoredFile:
        """Store a file a user sent; ``data=None`` advertises ``size`` zero bytes."""
        self._file_counter += 1
        number = self._file_counter
        stored = StoredFile(
            file_id=_opaque_id("file", self.bot_id, number, length=64),
            file_unique_id=_opaque_id("unique", number, length=16),
            file_path=f"{directory}/file_{number}.{extension}",
            size=size,
            data=data,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    # -- callback queries ------------------------------------------------------------------

    def add_callback(self, chat: ChatState, message: StoredMessage, data: str) -> str:
        """Queue a callback_query update for a press on ``message``; returns the query id."""
        self._callback_counter += 1
        query_id = str(4_611_686_018_427_387_904 // 1000 * 1000 + self._callback_counter)
        self.callbacks[query_id] = CallbackRecord(query_id, chat.chat_id, message.message_id, data)
        payload: JSONDict = {
            "id": query_id,
            "from": dict(chat.user),
            "message": copy.deepcopy(message.data),
            "chat_instance": chat.chat_instance,
            "data": data,
        }
        self.push_update("callback_query", payload)
        return query_id
