"""Two bots in one process (the deployment's and a channel's own), each against its own Bot API
stand-in behind one address (standin/several.py): the real PTB stack, real storage."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, load_questionnaire
from bot.telegram.runtime import BotOptions, BotRuntime, WebhookOptions, running_bot
from standin.server import BotApiStandIn
from standin.several import SeveralBots
from storage import Storage
from tests.bot.harness import TOKEN, CapturedLogs, captured_logs, prepared_store

PARTNER_TOKEN = "123456789:PARTNER-token-for-the-stand-in-only-abc"
WEBHOOK_SECRET = "w" * 40
PARTNER_SECRET = "p" * 40


def token_file(folder: Path, token: str = PARTNER_TOKEN, mode: int = 0o600) -> Path:
    path = folder / f"bot-{token.split(':')[0]}.token"
    path.write_text(token + "\n")
    os.chmod(path, mode)
    return path


@dataclass
class TwoBots:
    main: BotApiStandIn
    partner: BotApiStandIn
    storage: Storage
    runtime: BotRuntime
    logs: CapturedLogs
    reviewer: crypto.X25519Identity


@contextlib.asynccontextmanager
async def running_two_bots(
    database_url: str,
    data_dir: Path,
    *,
    setup: Callable[[Storage], Awaitable[None]] | None = None,
    channel_chooser: bool = False,
    channel_refresh_seconds: float = 30.0,
    webhook: bool = False,
) -> AsyncIterator[TwoBots]:
    """`setup` runs on the store before the bots start (channels are loaded at start)."""
    async with prepared_store(database_url, data_dir, setup) as store:
        # The partner's token is deliberately not given to the log formatter: it must never
        # reach a log line in the first place.
        with captured_logs() as logs:
            async with SeveralBots(
                BotApiStandIn(TOKEN, bot_username="intake_test_bot"),
                BotApiStandIn(PARTNER_TOKEN, bot_username="partner_test_bot"),
            ) as several:
                hook = None
                if webhook:
                    hook = WebhookOptions(WEBHOOK_SECRET, port=0,
                                          public_url="https://intake.example.org/telegram")
                options = BotOptions(
                    TOKEN, several.root_url, poll_timeout=1,
                    per_chat_messages_per_second=50.0, per_chat_burst=50,
                    channel_chooser=channel_chooser, webhook=hook,
                    channel_refresh_seconds=channel_refresh_seconds,
                )
                async with running_bot(options, store.storage, store.keys, load_questionnaire(
                        DEFAULT_QUESTIONNAIRE), keyring=store.keyring) as runtime:
                    yield TwoBots(several[TOKEN], several[PARTNER_TOKEN], store.storage, runtime,
                                  logs, store.reviewer)
