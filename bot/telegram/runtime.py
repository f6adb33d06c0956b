"""Running the bot: wire the durable intake path, then poll (one process) or serve a webhook.

python-telegram-bot's `Bot` does every Bot API call (real serialisation, real HTTP); its
Application and Updater are not used, because the Updater confirms updates before they are
processed. Our poller (or the webhook) hands each update to the IntakeProcessor, which commits
it in one transaction; the relay delivers what the outbox holds; a sweeper forgets what has
expired and removes orphans.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from telegram import Bot, Update
from telegram.error import InvalidToken, NetworkError, RetryAfter
from telegram.request import HTTPXRequest

from bot import metrics
from bot.channel_loading import load_channels
from bot.chat_store import OUTBOX_LIFETIME_DAYS, ChatStore
from bot.core import Conversation, Questionnaire
from bot.core.status import StatusConversation
from bot.followup import FollowUpService
from bot.i18n import LANGUAGE_NAMES, translations
from bot.notifications import notice_chats, notifiers_for
from bot.sealing import DEFAULT_CONCURRENT_FILES, WorkSlots
from bot.submission import ReportSubmitter
from bot.telegram.channel_refresh import REFRESH_SECONDS, ChannelFollower
from bot.telegram.delivery import OutboxRelay
from bot.telegram.download import TelegramFiles
from bot.telegram.health import HealthMonitor, monitoring, serving_health
from bot.telegram.intake import DeleteReportHook, IntakeProcessor
from bot.telegram.parking import UpdateParking
from bot.telegram.polling import AtLeastOncePoller, Process
from bot.telegram.send_budget import (
    TELEGRAM_MESSAGES_PER_SECOND,
    LocalSendBudget,
    slot_interval,
)
from bot.telegram.sender import BOT_API_CONNECTIONS, READ_TIMEOUT_SECONDS, BotApiSender
from crypto.drafts import DraftKeyring
from storage import Storage
from storage.server_keys import ServerKeys

log = logging.getLogger("intake.bot")

_SWEEP_SECONDS = 60.0
# Telegram redelivers an unconfirmed update for at most a day; marks are kept two.
_MARK_DAYS = 2
# A payload nobody refers to after this long was left by a crash, not by a submission at work.
_ORPHAN_GRACE = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class WebhookOptions:
    secret: str
    host: str = "127.0.0.1"
    port: int = 8080
    path: str = "/telegram"
    # The https URL Telegram calls (through the reverse proxy); None: leave it as registered.
    public_url: str | None = None
    max_connections: int = 40


@dataclass(frozen=True)
class BotOptions:
    token: str
    api_root: str
    draft_ttl_seconds: float = 3600.0
    max_file_bytes: int = 20 * 1024 * 1024
    poll_timeout: float = 10.0
    delete_after_submit: bool = True
    # A reviewers' chat for content-free "new report" notices, at most one per interval.
    reviewers_chat_id: int | None = None
    notify_interval_seconds: float = 600.0
    webhook: WebhookOptions | None = None
    relay_interval_seconds: float = 2.0
    # Remove orphans at once on start-up: only for a single process (SQLite), where no other
    # worker can be half-way through a submission.
    sweep_orphans_at_start: bool = False
    # Telegram's per-chat pace: about one message a second sustained, after a short burst.
    per_chat_messages_per_second: float = 1.0
    per_chat_burst: int = 3
    # Files fetched and sealed at once, across all witnesses: keeps peak memory flat.
    max_concurrent_files: int = DEFAULT_CONCURRENT_FILES
    # A plain /start first asks which public channel to report to (docs/channels.md).
    channel_chooser: bool = False
    # Where a polling bot serves /healthz, /readyz and /metrics (None: nowhere); webhook
    # workers serve them on the webhook's own address (bot/telegram/health.py).
    health_listen: tuple[str, int] | None = None
    # How often the channels are read again, so one added or changed needs no restart.
    channel_refresh_seconds: float = REFRESH_SECONDS


@dataclass
class BotRuntime:
    bot: Bot
    processor: IntakeProcessor
    poller: AtLeastOncePoller | None
    webhook_port: int | None
    health_port: int | None = None


def build_bot(options: BotOptions) -> Bot:
    root = options.api_root.rstrip("/")
    return Bot(
        options.token,
        base_url=f"{root}/bot",
        base_file_url=f"{root}/file/bot",
        # A call waiting for a free connection is not a failed call: it waits as long as an
        # answer may take, instead of PTB's 1 s.
        request=HTTPXRequest(connection_pool_size=BOT_API_CONNECTIONS,
                             read_timeout=READ_TIMEOUT_SECONDS, pool_timeout=READ_TIMEOUT_SECONDS),
        get_updates_request=HTTPXRequest(read_timeout=options.poll_timeout + 10),
    )


async def connect(bot: Bot, api_root: str, stop: asyncio.Event | None = None) -> None:
    """getMe until it answers: a network failure names the URL and retries, never crashes."""
    failures = 0
    while True:
        try:
            await bot.initialize()
            return
        except InvalidToken:
            raise
        except RetryAfter as error:
            await asyncio.sleep(float(error.retry_after))  # type: ignore[arg-type]
        except NetworkError as error:
            failures += 1
            wait = min(30.0, 2.0 * failures)
            log.warning(
                f"bot.api_unreachable url={api_root} hint=check the network, a firewall or "
                "proxy, and INTAKE_TELEGRAM_API_URL; retrying",
                extra={"error": type(error), "count": failures},
            )
            if stop is not None and stop.is_set():
                raise
            await asyncio.sleep(wait)


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

    # Every channel's questionnaire is loaded now; one added or changed later is picked up by
    # the ChannelFollower below within channel_refresh_seconds.
    conversation = await load_channels(storage, questionnaire, conversation_for,
                                       chooser=options.channel_chooser)
    # Without a key file, drafts are sealed with a key that lives only in this process.
    keyring = keyring or DraftKeyring.ephemeral()
    store = ChatStore(storage, keyring, ttl_seconds=options.draft_ttl_seconds)
    bot = build_bot(options)
    await connect(bot, options.api_root)
    # Telegram's 30 messages a second are the bot's: on PostgreSQL every worker shares them.
    budget = storage.shared_send_budget(bot.id, slot_interval(TELEGRAM_MESSAGES_PER_SECOND))
    sender = BotApiSender(budget=budget or LocalSendBudget(TELEGRAM_MESSAGES_PER_SECOND),
                          per_chat_per_second=options.per_chat_messages_per_second,
                          per_chat_burst=options.per_chat_burst)
    relay = OutboxRelay(bot, sender, store, storage)
    slots = WorkSlots(options.max_concurrent_files)
    files = TelegramFiles(bot, max_bytes=options.max_file_bytes, sender=sender)
    processor = IntakeProcessor(
        bot=bot,
        conversation=conversation,
        status=StatusConversation(translations, allow_delete=delete_report is not None,
                                  max_file_bytes=options.max_file_bytes),
        submitter=ReportSubmitter(storage, keys, conversation, slots=slots),
        followup=FollowUpService(storage, keys, slots=slots),
        storage=storage,
        store=store,
        relay=relay,
        fetch=files.stream,
        delete_report=delete_report,
        delete_after_submit=options.delete_after_submit,
    )
    channels = await storage.channels.all()
    processor.notifiers = notifiers_for(
        notice_chats(((c.slug, c.reviewers_chat_id) for c in channels), options.reviewers_chat_id),
        options.notify_interval_seconds,
    )
    follower = ChannelFollower(
        storage, questionnaire, conversation_for, chooser=options.channel_chooser,
        serving=conversation, notifiers=processor.notifiers,
        deployment_chat=options.reviewers_chat_id,
        notify_interval_seconds=options.notify_interval_seconds, records=channels,
    )
    if options.sweep_orphans_at_start:
        await _sweep_orphans(storage, dt.timedelta(0))
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(relay.run(options.relay_interval_seconds)),
        asyncio.create_task(_sweep(storage)),
        asyncio.create_task(follower.run(options.channel_refresh_seconds)),
    ]
    poller: AtLeastOncePoller | None = None
    process = _counted(processor.process)
    try:
        async with contextlib.AsyncExitStack() as stack:
            monitor = await stack.enter_async_context(monitoring(HealthMonitor(storage, bot)))
            webhook_port: int | None = None
            health_port: int | None = None
            if options.webhook is not None:
                # aiohttp's server: loaded only in webhook mode, a polling bot never holds it.
                from bot.telegram.webhook import running_webhook

                hook = options.webhook
                webhook_port = await stack.enter_async_context(running_webhook(
                    bot, process, secret=hook.secret, host=hook.host,
                    port=hook.port, path=hook.path, public_url=hook.public_url,
                    max_connections=hook.max_connections, admit=processor.admit,
                    health=monitor,
                ))
            else:
                if options.health_listen is not None:
                    health_port = await stack.enter_async_context(
                        serving_health(monitor, *options.health_listen))
                poller = AtLeastOncePoller(bot, process, api_url=options.api_root,
                                           poll_timeout=int(options.poll_timeout),
                                           admit=processor.admit,
                                           parking=UpdateParking(storage, keyring, bot))
                tasks.append(asyncio.create_task(poller.run(stop)))
            log.info("bot.started")
            try:
                yield BotRuntime(bot, processor, poller, webhook_port, health_port)
            finally:
                stop.set()
                if poller is not None:
                    # Let the poller finish what it started (its task ends by itself).
                    await asyncio.gather(tasks.pop(), return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Receipts committed just before the stop still go out if Telegram answers in time;
        # whatever is left waits in the outbox for the next start.
        await relay.close(timeout_seconds=5.0)
        await processor.close()
        await files.aclose()
        for notifier in {id(n): n for n in processor.notifiers.values()}.values():
            await notifier.close()
        with contextlib.suppress(Exception):
            await bot.shutdown()
        log.info("bot.stopped")


def _counted(process: Process) -> Process:
    """`process`, counting the updates it commits (the metric intake_updates_handled)."""

    async def counted(updates: Sequence[Update]) -> None:
        await process(updates)
        metrics.UPDATES_HANDLED.inc(len(updates))

    return counted


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
