"""Running the bot: build the python-telegram-bot Application around the adapter and poll."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from telegram.ext import Application, ApplicationBuilder

from bot.core import Conversation, Questionnaire
from bot.drafts import DraftStore
from bot.followup import FollowUpService
from bot.i18n import LANGUAGE_NAMES, translations
from bot.notifications import ReviewerNotifier
from bot.sealing import DEFAULT_CONCURRENT_FILES, WorkSlots
from bot.submission import ReportSubmitter
from bot.telegram.adapter import AdapterOptions, DeleteReportHook, TelegramAdapter
from storage import Storage
from storage.server_keys import ServerKeys

log = logging.getLogger("intake.bot")

_SWEEP_SECONDS = 60.0


@dataclass(frozen=True)
class BotOptions:
    token: str
    api_root: str
    draft_ttl_seconds: float = 3600.0
    max_file_bytes: int = 20 * 1024 * 1024
    # Files fetched and sealed at once, across first submissions and /status additions.
    max_concurrent_files: int = DEFAULT_CONCURRENT_FILES
    poll_timeout: float = 10.0
    delete_after_submit: bool = True
    # A reviewers' chat for content-free "new report" notices, at most one per interval.
    reviewers_chat_id: int | None = None
    notify_interval_seconds: float = 600.0


def build_application(options: BotOptions) -> Application:  # type: ignore[type-arg]
    root = options.api_root.rstrip("/")
    builder: ApplicationBuilder = (  # type: ignore[type-arg]
        Application.builder()
        .token(options.token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        # One witness's slow upload must not hold up another; the adapter orders each chat.
        .concurrent_updates(True)
        .get_updates_read_timeout(options.poll_timeout + 10)
    )
    return builder.build()


@contextlib.asynccontextmanager
async def running_bot(
    options: BotOptions,
    storage: Storage,
    keys: ServerKeys,
    questionnaire: Questionnaire,
    *,
    delete_report: DeleteReportHook | None = None,
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """Start polling; on exit, stop polling, finish in-flight updates and shut down cleanly."""
    conversation = Conversation(
        questionnaire,
        translations,
        max_file_bytes=options.max_file_bytes,
        language_names=LANGUAGE_NAMES,
    )
    drafts = DraftStore(options.draft_ttl_seconds)
    slots = WorkSlots(options.max_concurrent_files)
    adapter = TelegramAdapter(
        conversation,
        ReportSubmitter(storage, keys, conversation, slots=slots),
        storage,
        drafts,
        followup=FollowUpService(storage, keys, slots=slots),
        delete_report=delete_report,
        options=AdapterOptions(delete_after_submit=options.delete_after_submit),
    )
    application = build_application(options)
    if options.reviewers_chat_id is not None:
        adapter.notifier = ReviewerNotifier(
            options.reviewers_chat_id, options.notify_interval_seconds
        )
    adapter.install(application)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(
            poll_interval=0.0, timeout=int(options.poll_timeout), drop_pending_updates=False
        )
        sweeper = asyncio.create_task(_sweep(drafts, adapter, storage))
        log.info("bot.started")
        try:
            yield application
        finally:
            sweeper.cancel()
            if adapter.notifier is not None:
                await adapter.notifier.close()
            await application.updater.stop()
            await application.stop()
            log.info("bot.stopped")


async def _sweep(drafts: DraftStore, adapter: TelegramAdapter, storage: Storage) -> None:
    while True:
        adapter.sweep()
        # Telegram redelivers an unconfirmed update for at most a day; two days of margin.
        cutoff = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
        try:
            await storage.additions.forget_submission_keys(cutoff)
        except Exception as error:  # the next sweep tries again; the bot keeps serving
            log.warning("maintenance.failed", extra={"error": type(error)})
        await asyncio.sleep(_SWEEP_SECONDS)
        expired = drafts.sweep()
        if expired:
            log.info("draft.expired", extra={"count": expired})
