"""A full python-telegram-bot Application polling the stand-in."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from standin import BotApiStandIn


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="again")]])
    await update.message.reply_text(f"echo: {update.message.text}", reply_markup=keyboard)


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    await update.message.reply_text(f"started with {context.args}")


async def _pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("pressed")
    await query.edit_message_text(f"pressed {query.data}")


@pytest.fixture
async def running_app(stand_in: BotApiStandIn, token: str) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """An Application with echo, /start and button handlers, polling the stand-in."""
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(stand_in.base_url)
        .base_file_url(stand_in.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    app.add_handler(CallbackQueryHandler(_pressed))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=60)
        try:
            yield app
        finally:
            # Stopping well inside the poll's 60 s timeout: it never waits out the long poll.
            started = time.monotonic()
            await app.updater.stop()
            await app.stop()
            assert time.monotonic() - started < 30


async def test_application_echoes_text_and_handles_press(
    running_app: Application,  # type: ignore[type-arg]
    stand_in: BotApiStandIn,
) -> None:
    """The real Application receives a user's text and a button press and answers both."""
    witness = stand_in.user(1001, "Ada")
    await witness.send_text("hello bot")
    echo = await witness.next_bot_message(timeout=5)
    assert echo.text == "echo: hello bot"
    assert echo.buttons == [[("Again", "again")]]
    query_id = await witness.press("again")
    edited = await witness.next_bot_message(timeout=5)
    assert (edited.message_id, edited.text, edited.edited) == (
        echo.message_id,
        "pressed again",
        True,
    )
    assert edited.buttons == []
    for _ in range(50):
        if stand_in.callback_answer(query_id) is not None:
            break
        await asyncio.sleep(0.02)
    answer = stand_in.callback_answer(query_id)
    assert answer is not None and answer["text"] == "pressed"


async def test_application_routes_commands_with_args(
    running_app: Application,  # type: ignore[type-arg]
    stand_in: BotApiStandIn,
) -> None:
    """A /start command with a deep-link argument reaches the CommandHandler with its args."""
    witness = stand_in.user(1002, "Bob")
    await witness.send_command("start", "abc")
    reply = await witness.next_bot_message(timeout=5)
    assert reply.text == "started with ['abc']"


async def test_application_serves_many_users(
    running_app: Application,  # type: ignore[type-arg]
    stand_in: BotApiStandIn,
) -> None:
    """Concurrent users each get their own replies in their own chats."""
    users = [stand_in.user(2000 + n, f"User{n}") for n in range(5)]
    await asyncio.gather(*(user.send_text(f"from {user.user_id}") for user in users))
    replies = await asyncio.gather(*(user.next_bot_message(timeout=5) for user in users))
    for user, reply in zip(users, replies, strict=True):
        assert reply.text == f"echo: from {user.user_id}"
        assert reply.message_id == 2


async def test_texts_never_logged(
    stand_in: BotApiStandIn, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the stand-in nor aiohttp logs message texts, even at DEBUG."""
    secret = "my-secret-witness-statement"
    with caplog.at_level(logging.DEBUG):
        async with ApplicationBuilder().token(token).base_url(stand_in.base_url).build() as app:
            await app.bot.send_message(stand_in.user(1001, "Ada").chat_id, secret)
    leaked = [
        r
        for r in caplog.records
        if r.name.startswith(("standin", "aiohttp")) and secret in r.getMessage()
    ]
    assert leaked == []
