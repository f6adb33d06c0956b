"""Translating a python-telegram-bot Update into a plain core event: nothing else."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from telegram import Message, Update

from bot.core import (
    Cancel,
    ChooseLanguage,
    Event,
    Forget,
    LocationInput,
    MediaInput,
    MediaRef,
    Press,
    Start,
    TextInput,
    Unsupported,
)
from bot.core.status import StatusRequested

_COMMANDS: dict[str, Callable[[str, str], Event | StatusRequested]] = {
    "start": lambda language, arguments: Start(language, arguments.strip() or None),
    "cancel": lambda _language, _arguments: Cancel(),
    "forget": lambda _language, _arguments: Forget(),
    "language": lambda _language, _arguments: ChooseLanguage(),
    "status": lambda _language, arguments: StatusRequested(arguments),
}


def telegram_language(update: Update) -> str:
    user = update.effective_user
    return (user.language_code if user else None) or ""


def to_event(updates: Sequence[Update]) -> Event | StatusRequested | None:
    """One update, or the parts of one album (several updates) as a single MediaInput."""
    if len(updates) > 1:
        files = tuple(
            media
            for update in updates
            if update.effective_message is not None
            and (media := media_ref(update.effective_message)) is not None
        )
        return MediaInput(files) if files else Unsupported()
    update = updates[0]
    if update.callback_query is not None:
        return Press(update.callback_query.data or "")
    message = update.effective_message
    if message is None:
        return None
    if message.text is not None:
        command = _command(message)
        if command is None:
            return TextInput(message.text)
        make = _COMMANDS.get(command)
        arguments = message.text.split(maxsplit=1)[1] if " " in message.text.strip() else ""
        return make(telegram_language(update), arguments) if make else Unsupported()
    media = media_ref(message)
    if media is not None:
        return MediaInput((media,))
    location = message.location or (message.venue.location if message.venue else None)
    if location is not None:
        return LocationInput(location.latitude, location.longitude)
    return Unsupported()


def _command(message: Message) -> str | None:
    text = message.text or ""
    if not text.startswith("/"):
        return None
    word = text.split(maxsplit=1)[0][1:]
    return word.split("@", 1)[0].lower()


def media_ref(message: Message) -> MediaRef | None:
    if message.photo:
        largest = message.photo[-1]
        return MediaRef(
            "photo", largest.file_id, largest.file_size, None, "image/jpeg", message.caption
        )
    for kind in ("video", "voice", "audio", "document", "video_note", "animation"):
        attachment = getattr(message, kind)
        if attachment is not None:
            return MediaRef(
                "video" if kind in ("video_note", "animation") else kind,
                attachment.file_id,
                attachment.file_size,
                getattr(attachment, "file_name", None),
                getattr(attachment, "mime_type", None),
                message.caption,
            )
    return None
