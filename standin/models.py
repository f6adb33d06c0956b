"""Plain data types shared by the stand-in server and its fake-user client."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

JSONDict = dict[str, Any]

#: Telegram's limits, as documented for the Bot API.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
DEFAULT_MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024


class ApiError(Exception):
    """A Bot API error reply: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, description: str, error_code: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.error_code = error_code

    @classmethod
    def bad_request(cls, detail: str) -> ApiError:
        """An HTTP 400 error whose description starts with ``Bad Request: ``."""
        return cls(f"Bad Request: {detail}", 400)

    def to_json(self) -> JSONDict:
        """The JSON body Telegram sends for this error."""
        return {"ok": False, "error_code": self.error_code, "description": self.description}


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (recorded; the listed methods never need one)."""

    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)


@dataclass
class RecordedCall:
    """One Bot API call the bot made, in arrival order.

    ``params`` holds the decoded parameters (JSON-encoded values such as ``reply_markup``
    are decoded, numeric ids are ints, flags are bools). ``status`` and ``description`` are
    filled in once the call has been answered (``status`` stays ``None`` while a long poll
    is still waiting); a dropped call keeps ``status`` ``None`` (or 200 if dropped after
    its effect) and says so in ``description``.
    """

    method: str
    params: JSONDict
    time: float
    status: int | None = None
    description: str | None = None
    #: The fault injected into this call (a :class:`standin.faults.FaultKind` value), if any.
    fault: str | None = None


@dataclass(frozen=True)
class BotMessage:
    """A snapshot of a message the bot sent (or edited) in a private chat.

    ``text`` is the text as Telegram displays it (formatting markup of ``parse_mode``
    removed); ``raw_text`` is what the bot sent. ``buttons`` lists the inline keyboard as
    ``(label, callback_data)`` rows (``callback_data`` is ``""`` for URL buttons).
    ``reply_keyboard`` lists the labels of a ReplyKeyboardMarkup sent with the message.
    """

    message_id: int
    text: str
    buttons: list[list[tuple[str, str]]]
    reply_keyboard: list[list[str]] | None
    protect_content: bool
    edited: bool
    method: str
    raw_text: str = ""
    parse_mode: str | None = None
    entities: list[JSONDict] = field(default_factory=list)
    removes_reply_keyboard: bool = False

    @property
    def callback_data(self) -> list[str]:
        """Every callback_data of the inline keyboard, row by row."""
        return [data for row in self.buttons for _, data in row if data]

    @property
    def button_labels(self) -> list[str]:
        """Every label of the inline keyboard, row by row."""
        return [label for row in self.buttons for label, _ in row]

    def data_for(self, label: str) -> str:
        """The callback_data of the inline button labelled ``label`` (KeyError if absent)."""
        for row in self.buttons:
            for button_label, data in row:
                if button_label == label:
                    return data
        raise KeyError(f"no inline button labelled {label!r}; labels: {self.button_labels}")


@dataclass(frozen=True)
class VisibleMessage:
    """One message currently visible in a chat (deleted messages disappear)."""

    message_id: int
    sender: Literal["bot", "user"]
    kind: str
    text: str
    edited: bool
    date: int


@dataclass
class StoredFile:
    """A file Telegram would hold; ``data`` is ``None`` for an advertised-only big file."""

    file_id: str
    file_unique_id: str
    file_path: str
    size: int
    data: bytes | None = field(default=None, repr=False)
    path_issued: bool = False

    def info(self) -> JSONDict:
        """The ``File`` object returned by getFile."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }


@dataclass
class StoredMessage:
    """A message in a chat: its Telegram JSON plus what the stand-in tracks about it."""

    data: JSONDict
    from_bot: bool
    kind: str
    raw_text: str = ""
    parse_mode: str | None = None
    protect_content: bool = False
    reply_keyboard: list[list[str]] | None = None
    removes_reply_keyboard: bool = False
    edited: bool = False
    last_method: str = "sendMessage"

    @property
    def message_id(self) -> int:
        """The per-chat message id."""
        return int(self.data["message_id"])

    @property
    def text(self) -> str:
        """The displayed text, or the caption of a media message, or ``""``."""
        value = self.data.get("text", self.data.get("caption", ""))
        return str(value)

    def inline_buttons(self) -> list[list[tuple[str, str]]]:
        """The inline keyboard as rows of ``(label, callback_data)``."""
        markup = self.data.get("reply_markup") or {}
        rows: list[list[tuple[str, str]]] = []
        for row in markup.get("inline_keyboard", []):
            rows.append([(str(b.get("text", "")), str(b.get("callback_data", ""))) for b in row])
        return rows

    def snapshot(self, method: str) -> BotMessage:
        """A frozen :class:`BotMessage` view of this (bot) message."""
        return BotMessage(
            message_id=self.message_id,
            text=self.text,
            buttons=self.inline_buttons(),
            reply_keyboard=self.reply_keyboard,
            protect_content=self.protect_content,
            edited=self.edited,
            method=method,
            raw_text=self.raw_text,
            parse_mode=self.parse_mode,
            entities=json.loads(json.dumps(self.data.get("entities", []))),
            removes_reply_keyboard=self.removes_reply_keyboard,
        )

    def visible(self) -> VisibleMessage:
        """The transcript view of this message."""
        return VisibleMessage(
            message_id=self.message_id,
            sender="bot" if self.from_bot else "user",
            kind=self.kind,
            text=self.text,
            edited=self.edited,
            date=int(self.data["date"]),
        )
