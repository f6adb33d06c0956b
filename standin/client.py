"""Fake Telegram users: what a witness does in the Telegram app, as an async API."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from standin.formatting import command_entities
from standin.models import (
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    BotMessage,
    JSONDict,
    StoredFile,
    StoredMessage,
    VisibleMessage,
)
from standin.state import ChatState, StandInState

_EXTENSIONS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "text/plain": "txt",
    "video/mp4": "mp4",
    "audio/mpeg": "mp3",
    "audio/ogg": "oga",
}


def _extension(file_name: str | None, mime_type: str, fallback: str) -> str:
    if file_name and "." in file_name:
        return file_name.rsplit(".", 1)[1].lower() or fallback
    return _EXTENSIONS.get(mime_type, fallback)


def _check_caption(caption: str | None) -> None:
    if caption is not None and len(caption) > MAX_CAPTION_LENGTH:
        raise ValueError(f"Telegram captions are at most {MAX_CAPTION_LENGTH} characters")


def _file_fields(stored: StoredFile) -> JSONDict:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
    }


class FakeUser:
    """One Telegram user in a private chat with the bot (chat id == user id).

    Created by :meth:`BotApiStandIn.user`. Every ``send_*`` returns the new message_id and
    queues the update the bot will fetch with getUpdates.
    """

    def __init__(self, state: StandInState, chat: ChatState) -> None:
        self._state = state
        self._chat = chat

    @property
    def user_id(self) -> int:
        """The user's id."""
        return int(self._chat.user["id"])

    @property
    def chat_id(self) -> int:
        """The private chat's id (equal to :attr:`user_id`)."""
        return self._chat.chat_id

    @property
    def user_json(self) -> JSONDict:
        """The ``User`` object Telegram sends for this user."""
        return dict(self._chat.user)

    @property
    def reply_keyboard(self) -> list[list[str]] | None:
        """The reply keyboard the bot currently shows this user, if any."""
        return self._chat.reply_keyboard

    @property
    def last_chat_action(self) -> str | None:
        """The last sendChatAction action in this chat."""
        return self._chat.last_action

    def block_bot(self) -> None:
        """Block the bot: its sends to this chat fail with 403 until :meth:`unblock_bot`."""
        self._chat.blocked = True

    def unblock_bot(self) -> None:
        """Unblock the bot."""
        self._chat.blocked = False

    # -- sending -----------------------------------------------------------------------------

    async def _send(self, kind: str, fields: JSONDict) -> int:
        stored = self._state.add_user_message(self._chat, kind, fields)
        await asyncio.sleep(0)
        return stored.message_id

    async def send_text(self, text: str) -> int:
        """Send a text message; ``/commands`` in it get ``bot_command`` entities."""
        if not text.strip():
            raise ValueError("Telegram clients do not send empty messages")
        if len(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"Telegram messages are at most {MAX_TEXT_LENGTH} characters")
        fields: JSONDict = {"text": text}
        entities = command_entities(text)
        if entities:
            fields["entities"] = entities
        return await self._send("text", fields)

    async def send_command(self, command: str, args: str = "") -> int:
        """Send ``/command args`` (the leading slash is optional)."""
        text = "/" + command.lstrip("/")
        return await self.send_text(f"{text} {args}" if args else text)

    async def press_reply_button(self, label: str) -> int:
        """Tap a button of the current reply keyboard (sends its label as text)."""
        keyboard = self._chat.reply_keyboard or []
        if not any(label in row for row in keyboard):
            raise ValueError(f"no reply keyboard button {label!r}; keyboard: {keyboard}")
        return await self.send_text(label)

    async def edit_text(self, message_id: int, text: str) -> None:
        """Edit one of this user's text messages (the bot gets an ``edited_message``)."""
        self._state.edit_user_message(self._chat, message_id, text)
        await asyncio.sleep(0)

    async def press(
        self, callback_data: str, *, message_id: int | None = None, force: bool = False
    ) -> str:
        """Press an inline button; returns the callback query id.

        The message defaults to the latest visible bot message with an inline keyboard. The
        button must currently be on that message unless ``force=True`` (which simulates a
        stale or forged press).
        """
        target = self._press_target(message_id)
        if not force and callback_data not in target.snapshot("").callback_data:
            raise ValueError(
                f"message {target.message_id} has no button with callback_data {callback_data!r}"
            )
        query_id = self._state.add_callback(self._chat, target, callback_data)
        await asyncio.sleep(0)
        return query_id

    def _press_target(self, message_id: int | None) -> StoredMessage:
        if message_id is not None:
            stored = self._chat.messages.get(message_id)
            if stored is None or not stored.from_bot:
                raise ValueError(f"no visible bot message {message_id} in this chat")
            return stored
        for stored in reversed(self._chat.messages.values()):
            if stored.from_bot and stored.data.get("reply_markup"):
                return stored
        raise ValueError("no visible bot message with an inline keyboard in this chat")

    def _add_file(self, directory: str, extension: str, data: bytes) -> StoredFile:
        return self._state.add_file(directory, extension, bytes(data), len(data))

    async def _send_media(
        self,
        kind: str,
        payload: Any,
        caption: str | None,
        media_group_id: str | None,
    ) -> int:
        _check_caption(caption)
        fields: JSONDict = {kind: payload}
        if media_group_id is not None:
            fields["media_group_id"] = media_group_id
        if caption is not None:
            fields["caption"] = caption
        return await self._send(kind, fields)

    async def send_photo(
        self,
        data: bytes,
        *,
        caption: str | None = None,
        media_group_id: str | None = None,
        width: int = 1280,
        height: int = 960,
    ) -> int:
        """Send a photo: a 90 px placeholder size plus ``data`` as the full (last) size."""
        full = self._add_file("photos", "jpg", data)
        scale = 90 / max(width, height, 1)
        thumb_bytes = b"standin-thumbnail:" + full.file_unique_id.encode()
        thumb = self._add_file("photos", "jpg", thumb_bytes)
        sizes = [
            {
                **_file_fields(thumb),
                "width": max(1, round(width * scale)),
                "height": max(1, round(height * scale)),
            },
            {**_file_fields(full), "width": width, "height": height},
        ]
        return await self._send_media("photo", sizes, caption, media_group_id)

    async def send_document(
        self,
        data: bytes,
        *,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        media_group_id: str | None = None,
    ) -> int:
        """Send a file as a document."""
        stored = self._add_file("documents", _extension(file_name, mime_type, "bin"), data)
        document = {"file_name": file_name, "mime_type": mime_type, **_file_fields(stored)}
        return await self._send_media("document", document, caption, media_group_id)

    async def send_big_document(
        self, size: int, *, file_name: str, mime_type: str, caption: str | None = None
    ) -> int:
        """Send a document that advertises ``size`` bytes without holding them."""
        if size < 0:
            raise ValueError("size must be >= 0")
        extension = _extension(file_name, mime_type, "bin")
        stored = self._state.add_file("documents", extension, None, size)
        document = {"file_name": file_name, "mime_type": mime_type, **_file_fields(stored)}
        return await self._send_media("document", document, caption, None)

    async def send_video(
        self,
        data: bytes,
        *,
        file_name: str = "video.mp4",
        mime_type: str = "video/mp4",
        duration: int = 5,
        width: int = 1280,
        height: int = 720,
        caption: str | None = None,
        media_group_id: str | None = None,
    ) -> int:
        """Send a video."""
        stored = self._add_file("videos", _extension(file_name, mime_type, "mp4"), data)
        video = {
            "duration": duration,
            "width": width,
            "height": height,
            "file_name": file_name,
            "mime_type": mime_type,
            **_file_fields(stored),
        }
        return await self._send_media("video", video, caption, media_group_id)

    async def send_voice(
        self,
        data: bytes,
        *,
        duration: int = 3,
        mime_type: str = "audio/ogg",
        caption: str | None = None,
    ) -> int:
        """Send a voice note (voice notes are never part of a media group)."""
        stored = self._add_file("voice", "oga", data)
        voice = {"duration": duration, "mime_type": mime_type, **_file_fields(stored)}
        return await self._send_media("voice", voice, caption, None)

    async def send_audio(
        self,
        data: bytes,
        *,
        file_name: str = "audio.mp3",
        mime_type: str = "audio/mpeg",
        duration: int = 30,
        performer: str | None = None,
        title: str | None = None,
        caption: str | None = None,
        media_group_id: str | None = None,
    ) -> int:
        """Send an audio file."""
        stored = self._add_file("music", _extension(file_name, mime_type, "mp3"), data)
        audio: JSONDict = {"duration": duration, "file_name": file_name, "mime_type": mime_type}
        if performer is not None:
            audio["performer"] = performer
        if title is not None:
            audio["title"] = title
        audio.update(_file_fields(stored))
        return await self._send_media("audio", audio, caption, media_group_id)

    async def send_location(self, latitude: float, longitude: float) -> int:
        """Share a location."""
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ValueError("latitude must be within ±90 and longitude within ±180")
        return await self._send(
            "location", {"location": {"latitude": latitude, "longitude": longitude}}
        )

    async def send_sticker(self) -> int:
        """Send a sticker (a message type the bot does not expect)."""
        stored = self._add_file("stickers", "webp", b"RIFF\x0c\x00\x00\x00WEBPVP8 ")
        sticker = {
            "width": 512,
            "height": 512,
            "emoji": "\N{GRINNING FACE}",
            "set_name": "StandInStickers",
            "is_animated": False,
            "is_video": False,
            "type": "regular",
            **_file_fields(stored),
        }
        return await self._send("sticker", {"sticker": sticker})

    # -- reading -----------------------------------------------------------------------------

    async def next_bot_message(self, timeout: float = 10.0) -> BotMessage:  # noqa: ASYNC109
        """The next bot message sent or edited in this chat that this user has not read.

        Raises :class:`TimeoutError` if none arrives within ``timeout`` seconds. Cancelling
        the wait never loses a message.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._chat.pending:
            self._chat.wakeup.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"the bot sent nothing to chat {self.chat_id} within {timeout} s"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._chat.wakeup.wait(), remaining)
        return self._chat.pending.popleft()

    def take_bot_messages(self) -> list[BotMessage]:
        """Every unread bot message of this chat, without waiting (marks them read)."""
        taken = list(self._chat.pending)
        self._chat.pending.clear()
        return taken

    def visible_messages(self) -> list[VisibleMessage]:
        """The chat transcript as the user sees it now (deleted messages are gone)."""
        return [stored.visible() for stored in self._chat.messages.values()]

    def bot_messages(self) -> list[BotMessage]:
        """The bot's messages currently visible in this chat, in their current state."""
        return [
            stored.snapshot(stored.last_method)
            for stored in self._chat.messages.values()
            if stored.from_bot
        ]
