"""What the witness did (events in) and what the bot should do (effects out)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.draft import MediaRef


@dataclass(frozen=True)
class Start:
    language: str | None = None
    # The deep link's start parameter (`/start <slug>`), as sent: not yet checked.
    channel: str | None = None


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class TextInput:
    text: str


@dataclass(frozen=True)
class Press:
    token: str


@dataclass(frozen=True)
class MediaInput:
    """One file, or several sent together as an album (Telegram delivers those one by one)."""

    files: tuple[MediaRef, ...]


@dataclass(frozen=True)
class ChooseLanguage:
    """The witness asked to change the language (/language)."""


@dataclass(frozen=True)
class Forget:
    """The witness asked to delete the draft and the conversation from the chat (/forget)."""


@dataclass(frozen=True)
class LocationInput:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Unsupported:
    """A message of a type no question accepts (sticker, poll, contact...)."""


Event = (
    Start | Cancel | TextInput | Press | MediaInput | LocationInput | Unsupported | ChooseLanguage
    | Forget
)


@dataclass(frozen=True)
class Button:
    label: str
    token: str


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SubmitRequested:
    """Seal and commit the draft now; only then tell the witness it was received."""


@dataclass(frozen=True)
class DraftClosed:
    """Forget the draft: the witness cancelled or declined."""


@dataclass(frozen=True)
class ClearChat:
    """Delete the conversation's messages from the chat (both sides), as far as Telegram allows."""


Effect = Reply | SubmitRequested | DraftClosed | ClearChat
