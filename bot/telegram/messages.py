"""A witness's message as the Bot API takes it: its inline keyboard, and sendMessage itself."""

from __future__ import annotations

from telegram import Bot
from telegram.error import TelegramError

from bot.core.chat import SendText


def keyboard(message: SendText) -> dict[str, object] | None:
    """The message's inline keyboard as the Bot API's JSON (InlineKeyboardMarkup): built as
    plain data, since building PTB's InlineKeyboardButton objects and turning them back into
    dicts was a tenth of the bot's CPU an action at its ceiling (bench/intake_load.py
    --unpaced --profile)."""
    if not message.buttons:
        return None
    return {"inline_keyboard": [
        [{"text": b.label, "callback_data": b.token} for b in row] for row in message.buttons
    ]}


async def send_text(bot: Bot, message: SendText) -> int:
    """sendMessage (copying protected, so a witness's phone cannot forward it); the message's id.

    Made by python-telegram-bot's own request, as `Bot.send_message` makes it (the same
    serialisation, time-outs and errors), minus turning the answer into a `Message` with every
    nested object: only the id is kept, and that construction was a tenth of the bot's CPU per
    message under load (bench/intake_load.py --profile).
    """
    data: dict[str, object] = {
        "chat_id": message.chat_id, "text": message.text, "protect_content": True,
    }
    markup = keyboard(message)
    if markup is not None:
        data["reply_markup"] = markup
    sent = await bot._post("sendMessage", data)  # a protected method: see the docstring
    if not isinstance(sent, dict) or not isinstance(sent.get("message_id"), int):
        raise TelegramError("sendMessage answered without a message id")
    return int(sent["message_id"])
