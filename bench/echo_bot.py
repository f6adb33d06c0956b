"""The baseline of bench/intake_load.py: a bare python-telegram-bot echo bot.

Run: python bench/echo_bot.py API_ROOT TOKEN [--telegram-limits]  (stops on SIGTERM or SIGINT)

PTB's own Application and Updater with long polling, one handler that answers every text
message with its text and every button press with an edit of the pressed message; nothing
stored. Without options nothing is paced: the fastest a python-telegram-bot bot can answer on
this machine, faster than Telegram accepts once more than 30 messages a second are due. With
`--telegram-limits` it sends through PTB's own AIORateLimiter at its defaults (30 messages a
second overall), the framework's way of staying within Telegram's limits, as intake's sender does.
"""

from __future__ import annotations

import sys

from telegram import Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest


async def _echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text:
        await message.reply_text(message.text)


async def _pressed(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer()
        await query.edit_message_text(f"pressed {query.data}")


def main(api_root: str, token: str, *, telegram_limits: bool = False) -> None:
    root = api_root.rstrip("/")
    builder = (
        Application.builder()
        .token(token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        # Never waits for a free connection (PTB's own default is 256; intake keeps 8, over
        # aiohttp: bot/telegram/bot_api_http.py). At a person's pace the echo bot uses only a
        # few of them. It stays on PTB's default HTTP client (httpx): the bare framework.
        .request(HTTPXRequest(connection_pool_size=128))
        .concurrent_updates(True)
    )
    if telegram_limits:
        builder = builder.rate_limiter(AIORateLimiter())
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, _echo))
    application.add_handler(CallbackQueryHandler(_pressed))
    application.run_polling(poll_interval=0.0, timeout=10, drop_pending_updates=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], telegram_limits="--telegram-limits" in sys.argv[3:])
