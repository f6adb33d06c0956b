"""The Bot API methods the stand-in implements, each ``(state, params) -> result``."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from standin.formatting import parse_formatted, trim
from standin.markup import Markup, validate_reply_markup
from standin.models import (
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_TEXT_LENGTH,
    ApiError,
    JSONDict,
    StoredMessage,
)
from standin.params import Params
from standin.state import ChatState, StandInState
from standin.webhook import delete_webhook, get_webhook_info, set_webhook

Handler = Callable[[StandInState, Params], Awaitable[Any]]

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


def _chat(state: StandInState, params: Params, *, sending: bool = False) -> ChatState:
    if not params.has("chat_id") or params.values["chat_id"] in ("", None):
        raise ApiError.bad_request("chat_id is empty")
    chat = state.chat_for(params.values["chat_id"])
    if sending and chat.blocked:
        raise ApiError("Forbidden: bot was blocked by the user", 403)
    return chat


def _text(params: Params, name: str = "text") -> tuple[str, list[JSONDict], str, str | None]:
    """Displayed text, entities, raw text and parse_mode of a text parameter."""
    raw = params.str_(name) or ""
    parse_mode = params.str_("parse_mode") or None
    text, entities = parse_formatted(raw, parse_mode)
    if parse_mode is None and params.has("entities"):
        given = params.json_("entities", "can't parse entities JSON object")
        if not isinstance(given, list) or not all(isinstance(e, dict) for e in given):
            raise ApiError.bad_request("can't parse entities JSON object")
        entities = given
    text, entities = trim(text, entities)
    if not text:
        raise ApiError.bad_request("message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise ApiError.bad_request("message is too long")
    return text, entities, raw, parse_mode


def _bot_message(chat: ChatState, params: Params) -> StoredMessage:
    message_id = params.req_int("message_id", "message identifier is not specified")
    stored = chat.messages.get(message_id)
    if stored is None:
        raise ApiError.bad_request("message to edit not found")
    if not stored.from_bot:
        raise ApiError.bad_request("message can't be edited")
    return stored


def _edit_target(state: StandInState, params: Params) -> StoredMessage:
    if params.has("inline_message_id"):
        raise ApiError.bad_request("MESSAGE_ID_INVALID")
    return _bot_message(_chat(state, params, sending=True), params)


async def get_me(state: StandInState, params: Params) -> JSONDict:
    """getMe: the bot's User object."""
    return {
        **state.bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


async def get_updates(state: StandInState, params: Params) -> list[JSONDict]:
    """getUpdates with offset, limit, timeout and allowed_updates."""
    limit = params.int_("limit")
    limit = 100 if limit is None else min(100, max(1, limit))
    timeout = params.float_("timeout") or 0.0
    allowed: list[str] | None = None
    if params.has("allowed_updates"):
        value = params.json_("allowed_updates", "can't parse allowed updates")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ApiError.bad_request("can't parse allowed updates")
        allowed = value
    return await state.get_updates(params.int_("offset"), limit, timeout, allowed)


def _commands_key(params: Params) -> str:
    scope = params.json_("scope", "can't parse BotCommandScope JSON object")
    if scope is not None and (not isinstance(scope, dict) or "type" not in scope):
        raise ApiError.bad_request("can't parse BotCommandScope JSON object")
    scope_type = scope["type"] if scope else "default"
    scope_chat = scope.get("chat_id", "") if scope else ""
    return f"{scope_type}|{scope_chat}|{params.str_('language_code') or ''}"


async def set_my_commands(state: StandInState, params: Params) -> bool:
    """setMyCommands (per scope and language)."""
    commands = params.json_("commands", "can't parse commands JSON object")
    if not isinstance(commands, list) or len(commands) > 100:
        raise ApiError.bad_request("can't parse commands JSON object")
    clean: list[JSONDict] = []
    for command in commands:
        if not isinstance(command, dict):
            raise ApiError.bad_request("can't parse BotCommand JSON object")
        name, description = command.get("command"), command.get("description")
        if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name):
            raise ApiError.bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
            raise ApiError.bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        clean.append({"command": name, "description": description})
    state.commands[_commands_key(params)] = clean
    return True


async def delete_my_commands(state: StandInState, params: Params) -> bool:
    """deleteMyCommands."""
    state.commands.pop(_commands_key(params), None)
    return True


async def get_my_commands(state: StandInState, params: Params) -> list[JSONDict]:
    """getMyCommands."""
    return [dict(c) for c in state.commands.get(_commands_key(params), [])]


def _apply_markup(stored: StoredMessage, markup: Markup) -> None:
    if markup.inline is not None:
        stored.data["reply_markup"] = markup.inline
    else:
        stored.data.pop("reply_markup", None)


def _reply_to(chat: ChatState, params: Params) -> StoredMessage | None:
    target: int | None = params.int_("reply_to_message_id")
    allow_missing = params.bool_("allow_sending_without_reply")
    reply = params.json_("reply_parameters", "can't parse reply parameters JSON object")
    if reply is not None:
        if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
            raise ApiError.bad_request("can't parse reply parameters JSON object")
        target = reply["message_id"]
        allow_missing = allow_missing or bool(reply.get("allow_sending_without_reply"))
    if target is None:
        return None
    found = chat.messages.get(target)
    if found is None and not allow_missing:
        raise ApiError.bad_request("message to be replied not found")
    return found


async def send_message(state: StandInState, params: Params) -> JSONDict:
    """sendMessage: text, parse_mode, entities, reply_markup, protect_content, replies."""
    chat = _chat(state, params, sending=True)
    if not params.has("text"):
        raise ApiError.bad_request("message text is empty")
    text, entities, raw, parse_mode = _text(params)
    markup = validate_reply_markup(
        params.json_("reply_markup", "can't parse reply keyboard markup JSON object")
    )
    reply_to = _reply_to(chat, params)
    protect = params.bool_("protect_content")
    fields: JSONDict = {"text": text}
    if entities:
        fields["entities"] = entities
    if reply_to is not None:
        fields["reply_to_message"] = {
            k: v for k, v in reply_to.data.items() if k != "reply_to_message"
        }
    if protect:
        fields["has_protected_content"] = True
    stored = state.add_bot_message(chat, fields)
    _apply_markup(stored, markup)
    stored.raw_text, stored.parse_mode, stored.protect_content = raw, parse_mode, protect
    stored.reply_keyboard = markup.reply_keyboard
    stored.removes_reply_keyboard = markup.remove_keyboard
    if markup.reply_keyboard is not None:
        chat.reply_keyboard = markup.reply_keyboard
    elif markup.remove_keyboard:
        chat.reply_keyboard = None
    chat.publish(stored, "sendMessage")
    return dict(stored.data)


async def edit_message_text(state: StandInState, params: Params) -> JSONDict:
    """editMessageText; an edit without reply_markup removes the inline keyboard."""
    stored = _edit_target(state, params)
    if stored.kind != "text":
        raise ApiError.bad_request("there is no text in the message to edit")
    if not params.has("text"):
        raise ApiError.bad_request("text is empty")
    text, entities, raw, parse_mode = _text(params)
    markup = validate_reply_markup(
        params.json_("reply_markup", "can't parse reply keyboard markup JSON object"),
        inline_only=True,
    )
    unchanged = (
        text == stored.data.get("text")
        and entities == stored.data.get("entities", [])
        and markup.inline == stored.data.get("reply_markup")
    )
    if unchanged:
        raise ApiError.bad_request(_NOT_MODIFIED)
    stored.data["text"] = text
    if entities:
        stored.data["entities"] = entities
    else:
        stored.data.pop("entities", None)
    return _finish_edit(state, stored, markup, "editMessageText", raw, parse_mode)


async def edit_message_reply_markup(state: StandInState, params: Params) -> JSONDict:
    """editMessageReplyMarkup; no reply_markup removes the inline keyboard."""
    stored = _edit_target(state, params)
    markup = validate_reply_markup(
        params.json_("reply_markup", "can't parse reply keyboard markup JSON object"),
        inline_only=True,
    )
    if markup.inline == stored.data.get("reply_markup"):
        raise ApiError.bad_request(_NOT_MODIFIED)
    return _finish_edit(
        state, stored, markup, "editMessageReplyMarkup", stored.raw_text, stored.parse_mode
    )


def _finish_edit(
    state: StandInState,
    stored: StoredMessage,
    markup: Markup,
    method: str,
    raw: str,
    parse_mode: str | None,
) -> JSONDict:
    _apply_markup(stored, markup)
    stored.data["edit_date"] = state.now()
    stored.edited = True
    stored.raw_text, stored.parse_mode = raw, parse_mode
    state.chats[int(stored.data["chat"]["id"])].publish(stored, method)
    return dict(stored.data)


async def answer_callback_query(state: StandInState, params: Params) -> bool:
    """answerCallbackQuery; each query can be answered once."""
    query_id = params.str_("callback_query_id", required=True, missing=_QUERY_INVALID)
    record = state.callbacks.get(query_id or "")
    if record is None or record.answer is not None:
        raise ApiError.bad_request(_QUERY_INVALID)
    text = params.str_("text")
    if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
        raise ApiError.bad_request("MESSAGE_TOO_LONG")
    record.answer = {
        "text": text,
        "show_alert": params.bool_("show_alert"),
        "url": params.str_("url"),
        "cache_time": params.int_("cache_time") or 0,
    }
    return True


async def delete_message(state: StandInState, params: Params) -> bool:
    """deleteMessage."""
    chat = _chat(state, params)
    message_id = params.req_int("message_id", "message identifier is not specified")
    if not state.delete_message(chat, message_id):
        raise ApiError.bad_request("message to delete not found")
    return True


async def delete_messages(state: StandInState, params: Params) -> bool:
    """deleteMessages: 1-100 ids; ids that are not found are skipped."""
    chat = _chat(state, params)
    error = "message_ids must be a non-empty array of at most 100 message identifiers"
    if not params.has("message_ids"):
        raise ApiError.bad_request(error)
    message_ids = params.int_list("message_ids", error=error)
    if not 1 <= len(message_ids) <= 100:
        raise ApiError.bad_request(error)
    for message_id in message_ids:
        state.delete_message(chat, message_id)
    return True


async def send_chat_action(state: StandInState, params: Params) -> bool:
    """sendChatAction."""
    chat = _chat(state, params, sending=True)
    action = params.str_("action")
    if action not in _CHAT_ACTIONS:
        raise ApiError.bad_request("wrong parameter action in request")
    chat.last_action = action
    return True


async def get_file(state: StandInState, params: Params) -> JSONDict:
    """getFile; files above the download limit are refused like on Telegram."""
    file_id = params.str_("file_id", required=True, missing="invalid file_id")
    stored = state.files.get(file_id or "")
    if stored is None:
        raise ApiError.bad_request("invalid file_id")
    if stored.size > state.max_download_bytes:
        raise ApiError.bad_request("file is too big")
    stored.path_issued = True
    return stored.info()


async def always_true(state: StandInState, params: Params) -> bool:
    """close and logOut: accepted, no effect."""
    return True


METHODS: dict[str, Handler] = {
    "getMe": get_me,
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
    "setMyCommands": set_my_commands,
    "deleteMyCommands": delete_my_commands,
    "getMyCommands": get_my_commands,
    "sendMessage": send_message,
    "editMessageText": edit_message_text,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "answerCallbackQuery": answer_callback_query,
    "deleteMessage": delete_message,
    "deleteMessages": delete_messages,
    "sendChatAction": send_chat_action,
    "getFile": get_file,
    "close": always_true,
    "logOut": always_true,
}
#: Bot API method names are case-insensitive.
CANONICAL_NAMES = {name.lower(): name for name in METHODS}
