"""Validation of ``reply_markup`` the way the Bot API checks it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from standin.models import MAX_CALLBACK_DATA_BYTES, ApiError, JSONDict

_PARSE_ERROR = "can't parse reply keyboard markup JSON object"
_INLINE_ACTIONS = (
    "callback_data",
    "url",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "web_app",
    "callback_game",
    "pay",
)
_MAX_BUTTONS = 100


@dataclass(frozen=True)
class Markup:
    """A validated reply_markup.

    ``inline`` is the InlineKeyboardMarkup to store on the message (the only kind Telegram
    echoes back in the Message); ``reply_keyboard`` holds the labels of a
    ReplyKeyboardMarkup; ``remove_keyboard`` is set for ReplyKeyboardRemove.
    """

    inline: JSONDict | None = None
    reply_keyboard: list[list[str]] | None = None
    remove_keyboard: bool = False


def validate_reply_markup(value: Any, *, inline_only: bool = False) -> Markup:
    """Validate a decoded ``reply_markup`` parameter; raise :class:`ApiError` if invalid."""
    if value is None:
        return Markup()
    if not isinstance(value, dict):
        raise ApiError.bad_request(_PARSE_ERROR)
    if "inline_keyboard" in value:
        return Markup(inline=_validate_inline(value["inline_keyboard"]))
    if inline_only:
        raise ApiError.bad_request("inline keyboard expected")
    if "keyboard" in value:
        return Markup(reply_keyboard=_validate_reply_keyboard(value["keyboard"]))
    if value.get("remove_keyboard") is True:
        return Markup(remove_keyboard=True)
    if value.get("force_reply") is True:
        return Markup()
    raise ApiError.bad_request(_PARSE_ERROR)


def _rows(value: Any, field_name: str, markup_name: str) -> list[list[Any]]:
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        raise ApiError.bad_request(
            f'field "{field_name}" of the {markup_name} must be an Array of Arrays'
        )
    if sum(len(row) for row in value) > _MAX_BUTTONS:
        raise ApiError.bad_request("reply markup is too long")
    return value


def _validate_inline(value: Any) -> JSONDict:
    rows = _rows(value, "inline_keyboard", "InlineKeyboardMarkup")
    clean_rows: list[list[JSONDict]] = []
    for row in rows:
        clean_row: list[JSONDict] = []
        for button in row:
            if not isinstance(button, dict):
                raise ApiError.bad_request("can't parse inline keyboard button: Object expected")
            text = button.get("text")
            if not isinstance(text, str):
                raise ApiError.bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            if not text.strip():
                raise ApiError.bad_request("BUTTON_TEXT_INVALID")
            actions = [name for name in _INLINE_ACTIONS if name in button]
            if not actions:
                raise ApiError.bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not (
                    1 <= len(data.encode("utf-8", "surrogatepass")) <= MAX_CALLBACK_DATA_BYTES
                ):
                    raise ApiError.bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not url.startswith(("http://", "https://", "tg://")):
                    raise ApiError.bad_request("BUTTON_URL_INVALID")
            clean_row.append(dict(button))
        clean_rows.append(clean_row)
    return {"inline_keyboard": clean_rows}


def _validate_reply_keyboard(value: Any) -> list[list[str]]:
    rows = _rows(value, "keyboard", "ReplyKeyboardMarkup")
    labels: list[list[str]] = []
    for row in rows:
        label_row: list[str] = []
        for button in row:
            text = button.get("text") if isinstance(button, dict) else button
            if not isinstance(text, str):
                raise ApiError.bad_request(
                    'can\'t parse keyboard button: Field "text" must be of type String'
                )
            if not text.strip():
                raise ApiError.bad_request("keyboard button text is empty")
            label_row.append(text)
        labels.append(label_row)
    return labels
