"""Fixtures for the Bot API stand-in tests: a running stand-in and a PTB Bot pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from standin import BotApiStandIn

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


@pytest.fixture
def token() -> str:
    """The bot token the stand-in accepts."""
    return TOKEN


@pytest.fixture
async def stand_in() -> AsyncIterator[BotApiStandIn]:
    """A running stand-in; fails the test if it hit an internal error."""
    async with BotApiStandIn(TOKEN) as server:
        yield server
    assert server.internal_errors == []


@pytest.fixture
async def bot(stand_in: BotApiStandIn) -> AsyncIterator[Bot]:
    """An initialised python-telegram-bot ``Bot`` talking to the stand-in."""
    async with Bot(TOKEN, base_url=stand_in.base_url, base_file_url=stand_in.base_file_url) as b:
        yield b
