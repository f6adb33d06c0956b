"""What the bot remembers about one chat between updates, and what it still has to send.

Both are plain values: the runtime seals them (they carry witness content) before they touch
disk, and a crash between two updates loses nothing because the next update starts from the
state the last one committed. The codec is self-describing JSON so a state written by one
version of the bot is read by the next one: fields added later take their defaults, fields
removed are ignored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from dataclasses import dataclass, field
from typing import Any

from bot.core import draft as draft_module
from bot.core import events as events_module
from bot.core import status as status_module
from bot.core.draft import Draft
from bot.core.events import Button
from bot.core.status import StatusSession

# Telegram deletes at most 100 messages per call and only for 48 hours; a longer trail is
# never needed, and a bounded one keeps a flooded chat's state small.
TRAIL_LIMIT = 1000


@dataclass
class ChatState:
    """One chat's conversation: the draft, a /status session, and the messages to delete."""

    draft: Draft | None = None
    status: StatusSession | None = None
    # Message ids of this conversation (both sides), for ClearChat and /forget.
    trail: list[int] = field(default_factory=list)
    # Wall-clock seconds of the last update; sealed, so the exact time never sits in clear.
    last_active: float = 0.0
    # The language the witness last used here (chosen, or from Telegram), so that what the bot
    # says after /cancel, an error or a finished report stays in it.
    language: str | None = None
    # The update whose Send was announced ("Sending…", committed to the outbox before the long
    # sealing): processed again after a restart, it does not say it twice.
    announced: str | None = None

    def remember(self, message_id: int) -> None:
        self.trail.append(message_id)
        del self.trail[:-TRAIL_LIMIT]

    @property
    def is_empty(self) -> bool:
        return self.draft is None and self.status is None and not self.trail


@dataclass(frozen=True)
class SendText:
    """Send one message; `keep` leaves it out of the trail (the receipt stays on the phone)."""

    chat_id: int
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    keep: bool = False


@dataclass(frozen=True)
class DeleteTrail:
    """Delete every message of the trail as it stands when this action is delivered."""

    chat_id: int


@dataclass(frozen=True)
class DeleteMessages:
    chat_id: int
    message_ids: tuple[int, ...]


Outgoing = SendText | DeleteTrail | DeleteMessages


class CodecError(ValueError):
    """A stored state or message could not be read back (written by an unknown version)."""


def _registry() -> dict[str, type]:
    known: dict[str, type] = {}
    for module in (draft_module, events_module, status_module):
        for value in vars(module).values():
            if isinstance(value, type) and (
                dataclasses.is_dataclass(value) or issubclass(value, enum.Enum)
            ) and value.__module__ == module.__name__:
                known[value.__name__] = value
    for cls in (ChatState, SendText, DeleteTrail, DeleteMessages):
        known[cls.__name__] = cls
    return known


_TYPES = _registry()


# Plain JSON values, by exact type: a StrEnum or IntEnum is also a str or an int, and must be
# encoded as its enum.
_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None)})
# Each dataclass's field names, looked up once rather than on every value encoded (a chat state
# is encoded on every update and every delivered message).
_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    names = _FIELDS.get(kind)
    if names is not None:  # a dataclass encoded before: the commonest value after plain ones
        encoded: dict[str, Any] = {"~d": kind.__name__}
        for name in names:
            encoded[name] = _encode(getattr(value, name))
        return encoded
    if kind is list:
        return [v if type(v) is int else _encode(v) for v in value]
    if isinstance(value, enum.Enum):
        return {"~e": kind.__name__, "v": value.value}
    if isinstance(value, bool | int | float | str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        _field_names(kind)
        return _encode(value)
    if isinstance(value, dt.datetime):
        raise TypeError("exact times are not kept in chat state")
    if isinstance(value, dt.date):
        return {"~date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"~time": value.isoformat()}
    if isinstance(value, tuple):
        return {"~t": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"~m": [[_encode(k), _encode(v)] for k, v in value.items()]}
    raise TypeError(f"cannot encode {kind.__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [v if type(v) is int else _decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "~d" in value:
        cls = _known(value["~d"])
        names = _field_names(cls)
        return cls(**{k: _decode(v) for k, v in value.items() if k in names})
    if "~e" in value:
        return _known(value["~e"])(value["v"])
    if "~t" in value:
        return tuple(_decode(v) for v in value["~t"])
    if "~m" in value:
        return {_decode(k): _decode(v) for k, v in value["~m"]}
    if "~date" in value:
        return dt.date.fromisoformat(value["~date"])
    if "~time" in value:
        return dt.time.fromisoformat(value["~time"])
    raise CodecError("unknown value in stored state")


def _known(name: str) -> Any:
    try:
        return _TYPES[name]
    except KeyError:
        raise CodecError("unknown type in stored state") from None


def encode(value: ChatState | Outgoing) -> bytes:
    return json.dumps(_encode(value), separators=(",", ":"), ensure_ascii=False).encode()


def decode_state(data: bytes) -> ChatState:
    value = _decode_any(data)
    if not isinstance(value, ChatState):
        raise CodecError("not a chat state")
    return value


def decode_outgoing(data: bytes) -> Outgoing:
    value = _decode_any(data)
    if not isinstance(value, SendText | DeleteTrail | DeleteMessages):
        raise CodecError("not an outgoing message")
    return value


def _decode_any(data: bytes) -> Any:
    try:
        return _decode(json.loads(data))
    except (ValueError, TypeError, KeyError) as error:
        raise CodecError("stored state could not be read") from error
