"""Wiring shared by the commands: open the store, load the questionnaire, start the bot."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

from bot.core import DEFAULT_QUESTIONNAIRE, Questionnaire, QuestionnaireError, load_questionnaire
from bot.telegram.runtime import BotOptions, running_bot
from cli.config import ConfigError, Settings
from storage import Storage
from storage.server_keys import load_or_create_server_keys


@contextlib.asynccontextmanager
async def open_storage(settings: Settings) -> AsyncIterator[Storage]:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        storage = await Storage.open(settings.resolved_database_url, settings.data_dir / "blobs")
    except OSError as error:
        raise ConfigError(
            f"INTAKE_DATABASE_URL: cannot reach the database ({type(error).__name__}): check "
            "that the server runs and the URL is right"
        ) from None
    try:
        yield storage
    finally:
        await storage.close()


def questionnaire_for(settings: Settings) -> Questionnaire:
    try:
        return load_questionnaire(settings.questionnaire or DEFAULT_QUESTIONNAIRE)
    except FileNotFoundError:
        raise ConfigError(
            f"INTAKE_QUESTIONNAIRE: {settings.questionnaire} does not exist: fix the path"
        ) from None
    except QuestionnaireError as error:
        raise ConfigError(str(error)) from None


def bot_options(settings: Settings, token: str) -> BotOptions:
    return BotOptions(
        token=token,
        api_root=settings.telegram_api_url,
        draft_ttl_seconds=settings.draft_ttl_minutes * 60.0,
        max_file_bytes=settings.max_file_mb * 1024 * 1024,
        delete_after_submit=settings.delete_after_submit,
    )


async def serve(settings: Settings, token: str) -> None:
    """Run the bot with long polling until SIGTERM or Ctrl-C, then stop cleanly."""
    questionnaire = questionnaire_for(settings)
    async with open_storage(settings) as storage:
        if not await storage.recipients.active():
            raise ConfigError(
                "no reviewer recipients are registered, so reports could not be sealed: run "
                "`intake reviewer add --name NAME --recipient age1...` first"
            )
        keys = load_or_create_server_keys(settings.data_dir)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        async with running_bot(bot_options(settings, token), storage, keys, questionnaire):
            await stop.wait()
