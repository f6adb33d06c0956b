"""Wiring of `intake serve`: load the questionnaire, start the bot (and the reviewer API)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

from telegram.error import InvalidToken

from bot.core import DEFAULT_QUESTIONNAIRE, Questionnaire, QuestionnaireError, load_questionnaire
from bot.telegram.adapter import DeleteReportHook
from bot.telegram.runtime import BotOptions, running_bot
from cli.config import ConfigError, Settings
from cli.store import open_storage
from review.audit import AuditTrail
from review.retention import shred_report
from storage import Storage
from storage.server_keys import load_or_create_server_keys


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
        reviewers_chat_id=settings.reviewers_chat_id,
        notify_interval_seconds=settings.notify_interval_minutes * 60.0,
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
        try:
            async with (
                running_bot(
                    bot_options(settings, token),
                    storage,
                    keys,
                    questionnaire,
                    delete_report=witness_deletion(settings, storage, keys.custody_key),
                ),
                api_if_configured(settings, storage),
            ):
                await stop.wait()
        except InvalidToken:
            # python-telegram-bot's own message quotes the whole token; never let it out.
            raise ConfigError(
                "INTAKE_BOT_TOKEN was refused by the Bot API server: copy the token again from "
                "@BotFather (or check INTAKE_TELEGRAM_API_URL)"
            ) from None


@contextlib.asynccontextmanager
async def running_reviewer_api(settings: Settings, storage: Storage) -> AsyncIterator[int]:
    """The reviewer API on INTAKE_API_LISTEN (default 127.0.0.1:8443); yields the bound port."""
    from review.api import DEFAULT_LISTEN, create_app, parse_listen, running_api
    from review.audit import AuditTrail

    keys = load_or_create_server_keys(settings.data_dir)
    # The audit trail is signed with the custody key, like the custody manifests.
    audit = AuditTrail(storage.audit, keys.custody_key)
    host, port = parse_listen(settings.api_listen or DEFAULT_LISTEN)
    try:
        async with running_api(create_app(storage, audit, keys.custody_key), host, port) as bound:
            yield bound
    except OSError as error:
        raise ConfigError(
            f"INTAKE_API_LISTEN: cannot listen on {host}:{port} ({error.strerror}): choose a "
            "free port or another address"
        ) from None


def api_if_configured(
    settings: Settings, storage: Storage
) -> contextlib.AbstractAsyncContextManager[object]:
    """`intake serve` runs the reviewer API beside the bot only when INTAKE_API_LISTEN is set."""
    if settings.api_listen is None:
        return contextlib.nullcontext()
    return running_reviewer_api(settings, storage)


async def serve_api(settings: Settings) -> None:
    """Run the reviewer API alone until SIGTERM or Ctrl-C."""
    async with open_storage(settings) as storage, running_reviewer_api(settings, storage):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        await stop.wait()


def witness_deletion(
    settings: Settings, storage: Storage, custody_key: bytes
) -> DeleteReportHook | None:
    """When the organisation allows it, a witness's delete request crypto-shreds the report."""
    if not settings.witness_may_delete:
        return None
    audit = AuditTrail(storage.audit, custody_key)

    async def delete(report_id: str) -> bool:
        shredded = await shred_report(
            storage, report_id, audit=audit, actor="witness", reason="witness_request"
        )
        # As after retention: push the deleted rows out of the WAL / dead tuples now.
        await storage.reports.release_freed_space()
        return shredded

    return delete
