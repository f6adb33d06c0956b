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


# Telegram's longest message, counted as it counts: in UTF-16 code units.
MESSAGE_LIMIT = 4096


def heard_first(heard: str, following: Reply) -> list[Reply]:
    """What the witness said is acknowledged before the next question ("No, I am in danger"
    must not be met with nothing but the next question), in the same message when both fit:
    one message arrives at once, where a second waits its turn under Telegram's per-chat rate
    and is one more notification on a phone that may be watched."""
    joined = f"{heard}\n\n{following.text}"
    if len(joined.encode("utf-16-le")) // 2 <= MESSAGE_LIMIT:
        return [Reply(joined, following.buttons)]
    return [Reply(heard), following]


@dataclass(frozen=True)
class SubmitRequested:
    """Seal and commit the draft now; only then tell the witness it was received.

    `announcement` ("Sending…") is said only if sealing takes long enough to be noticed (the
    files are still coming from Telegram): a quick report is answered by its receipt alone, one
    message instead of two on a phone that may be searched and under a rate that is shared."""

    announcement: str


@dataclass(frozen=True)
class DraftClosed:
    """Forget the draft: the witness cancelled or declined."""


@dataclass(frozen=True)
class ClearChat:
    """Delete the conversation's messages from the chat (both sides), as far as Telegram allows."""


Effect = Reply | SubmitRequested | DraftClosed | ClearChat
