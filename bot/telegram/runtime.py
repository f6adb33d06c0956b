"""Running the bot: wire the durable intake path, then poll (one process) or serve a webhook.

python-telegram-bot's `Bot` does every Bot API call (real serialisation, real HTTP); its
Application and Updater are not used, because the Updater confirms updates before they are
processed. Our poller (or the webhook) hands each update to the IntakeProcessor, which commits
it in one transaction; the relay delivers what the outbox holds; a sweeper forgets what has
expired and removes orphans. Each bot of the installation (the deployment's, and a channel's
own) runs as a BotUnit (bot_unit.py), kept in step with the channels by the supervisor
(bots.py); this module wires the parts the bots share: the webhook server, health, the sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from telegram import Bot

from bot.chat_store import OUTBOX_LIFETIME_DAYS
from bot.core import Conversation, Questionnaire
from bot.i18n import LANGUAGE_NAMES, translations
from bot.sealing import WorkSlots
from bot.telegram.bot_options import BotOptions, WebhookOptions, build_bot, connect
from bot.telegram.bot_unit import SharedParts
from bot.telegram.bots import BotSupervisor
from bot.telegram.health import HealthMonitor, monitoring, serving_health
from bot.telegram.intake import DeleteReportHook, IntakeProcessor
from bot.telegram.polling import AtLeastOncePoller
from crypto.drafts import DraftKeyring
from storage import Storage
from storage.server_keys import ServerKeys

log = logging.getLogger("intake.bot")

_SWEEP_SECONDS = 60.0
# Telegram redelivers an unconfirmed update for at most a day; marks are kept two.
_MARK_DAYS = 2
# A payload nobody refers to after this long was left by a crash, not by a submission at work.
_ORPHAN_GRACE = dt.timedelta(minutes=30)


@dataclass
class BotRuntime:
    """The deployment's bot (and the supervisor of every bot, channels' own included)."""

    bot: Bot
    processor: IntakeProcessor
    poller: AtLeastOncePoller | None
    webhook_port: int | None
    health_port: int | None = None
    bots: BotSupervisor | None = None


@contextlib.asynccontextmanager
async def running_bot(
    options: BotOptions,
    storage: Storage,
    keys: ServerKeys,
    questionnaire: Questionnaire,
    *,
    delete_report: DeleteReportHook | None = None,
    keyring: DraftKeyring | None = None,
) -> AsyncIterator[BotRuntime]:
    """Start intake (polling, or the webhook); on exit, finish in-flight updates and stop."""
    def conversation_for(channel_questionnaire: Questionnaire) -> Conversation:
        return Conversation(
            channel_questionnaire,
            translations,
            max_file_bytes=options.max_file_bytes,
            language_names=LANGUAGE_NAMES,
        )

    routes = None
    if options.webhook is not None:
        # aiohttp's server: loaded only in webhook mode, a polling bot never holds it.
        from bot.telegram.webhook import WebhookRoutes

        routes = WebhookRoutes()
    parts = SharedParts(
        options, storage, keys,
        # Without a key file, drafts are sealed with a key that lives only in this process.
        keyring or DraftKeyring.ephemeral(),
        WorkSlots(options.max_concurrent_files), conversation_for,
        delete_report=delete_report, routes=routes,
    )
    # Every channel's questionnaire is loaded now and every bot started; a channel or bot
    # added or changed later is picked up within channel_refresh_seconds.
    bots = BotSupervisor(parts, questionnaire)
    try:
        await bots.start()
    except BaseException:
        await bots.close()
        raise
    main = bots.deployment
    if options.sweep_orphans_at_start:
        await _sweep_orphans(storage, dt.timedelta(0))
    tasks = [
        asyncio.create_task(_sweep(storage)),
        asyncio.create_task(bots.run(options.channel_refresh_seconds)),
    ]
    try:
        async with contextlib.AsyncExitStack() as stack:
            monitor = await stack.enter_async_context(monitoring(HealthMonitor(
                storage, main.bot, channel_bots=bots.health())))
            webhook_port: int | None = None
            health_port: int | None = None
            if options.webhook is not None:
                # aiohttp's server: loaded only in webhook mode, a polling bot never holds it.
                from bot.telegram.webhook import running_webhook

                hook = options.webhook
                webhook_port = await stack.enter_async_context(running_webhook(
                    main.bot, main.process, secret=hook.secret, host=hook.host,
                    port=hook.port, path=hook.path, public_url=hook.public_url,
                    max_connections=hook.max_connections, admit=main.processor.admit,
                    health=monitor, routes=routes,
                ))
            elif options.health_listen is not None:
                health_port = await stack.enter_async_context(
                    serving_health(monitor, *options.health_listen))
            log.info("bot.started")
            yield BotRuntime(main.bot, main.processor, main.poller, webhook_port, health_port,
                             bots)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Each bot finishes what it started; what is left waits in the outbox for the next start.
        await bots.close()
        log.info("bot.stopped")


async def _sweep(storage: Storage) -> None:
    while True:
        await asyncio.sleep(_SWEEP_SECONDS)
        today = dt.datetime.now(dt.UTC).date()
        try:
            await storage.additions.forget_submission_keys(today - dt.timedelta(days=_MARK_DAYS))
            await storage.parked_updates.sweep(today - dt.timedelta(days=_MARK_DAYS))
            counts = await storage.conversations.sweep(
                now=dt.datetime.now(dt.UTC),
                marks_before=today - dt.timedelta(days=_MARK_DAYS),
                outbox_before=today - dt.timedelta(days=OUTBOX_LIFETIME_DAYS),
            )
            if any(counts.__dict__.values()):
                log.info("conversations.swept", extra={"count": sum(counts.__dict__.values())})
            await _sweep_orphans(storage, _ORPHAN_GRACE)
        except Exception as error:  # the next sweep tries again; the bot keeps serving
            log.warning("maintenance.failed", extra={"error": type(error)})


async def _sweep_orphans(storage: Storage, grace: dt.timedelta) -> None:
    removed = await storage.sweep_orphan_payloads(grace)
    if removed:
        log.info("payloads.orphans_removed", extra={"count": removed})


__all__ = ["BotOptions", "BotRuntime", "WebhookOptions", "build_bot", "connect", "running_bot"]
