"""Fetching a witness's file from the Bot API (temporary whole-file version; streaming lands
from the stream branch)."""

from __future__ import annotations

from telegram import Bot

from bot.core import MediaRef
from bot.submission import Fetch
from bot.telegram.sender import BotApiSender


def telegram_fetcher(bot: Bot, sender: BotApiSender) -> Fetch:
    async def fetch(media: MediaRef) -> bytes:
        telegram_file = await sender.call(None, lambda: bot.get_file(media.handle))
        return bytes(await telegram_file.download_as_bytearray())

    return fetch
