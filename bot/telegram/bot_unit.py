"""One bot's runtime: its Bot, send budget, outbox relay and intake processor, and its poller
(or its webhook route). The installation runs one per bot (bot/telegram/bots.py): the
deployment's own (INTAKE_BOT_TOKEN) and one for each channel with a bot of its own.

Bots never share chat state: a channel's own bot keys its chats with its id (the deployment's
bot keeps the keys it always had, so drafts in flight survive an upgrade) and tags its outbox
rows and parked updates, so no other bot's relay or poller picks them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telegram import Update
from telegram.error import TelegramError

from bot import metrics
from bot.chat_store import ChatStore
from bot.core import Conversation, Questionnaire
from bot.core.channels import ChannelConversations
from bot.core.status import StatusConversation
from bot.followup import FollowUpService
from bot.i18n import translations
from bot.notifications import notice_chats, notifiers_for
from bot.sealing import WorkSlots
from bot.submission import ReportSubmitter
from bot.telegram.bot_options import BotOptions, build_bot, connect
from bot.telegram.bot_plan import BotPlan
from bot.telegram.channel_refresh import ChannelFollower
from bot.telegram.delivery import OutboxRelay
from bot.telegram.download import TelegramFiles
from bot.telegram.intake import DeleteReportHook, IntakeProcessor
from bot.telegram.parking import UpdateParking
from bot.telegram.polling import AtLeastOncePoller
from bot.telegram.send_budget import (
    LATE_TOLERANCE,
    SHARED_SPACING_MARGIN,
    TELEGRAM_MESSAGES_PER_SECOND,
    LocalSendBudget,
    slot_interval,
)
from bot.telegram.sender import BotApiSender
from crypto.drafts import DraftKeyring
from storage import Storage
from storage.records import ChannelRecord
from storage.send_budget import bot_tag
from storage.server_keys import ServerKeys

if TYPE_CHECKING:
    # aiohttp is loaded in webhook mode only: a polling bot never holds it.
    from bot.telegram.webhook import WebhookRoutes

log = logging.getLogger("intake.bot")

# A stopping bot's webhook requests in flight are waited for this long at most.
_INFLIGHT_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class SharedParts:
    """What every bot of the process shares."""

    options: BotOptions
    storage: Storage
    keys: ServerKeys
    keyring: DraftKeyring
    # Files fetched and sealed at once across all bots: memory stays flat however many.
    slots: WorkSlots
    make: Callable[[Questionnaire], Conversation]
    delete_report: DeleteReportHook | None = None
    # Webhook mode: where channels' own bots get their routes (None: polling).
    routes: WebhookRoutes | None = None


class BotUnit:
    def __init__(self, plan: BotPlan, parts: SharedParts) -> None:
        self.plan = plan
        self._parts = parts
        self.tag: str | None = None
        self.poller: AtLeastOncePoller | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._polling: asyncio.Task[None] | None = None
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.started = False

    async def start(
        self, conversation: ChannelConversations, records: Sequence[ChannelRecord]
    ) -> None:
        """Connect (the deployment's bot waits for the Bot API; a channel's own bot tries once
        and raises, to be tried again at the next refresh) and start serving."""
        parts, options = self._parts, self._parts.options
        storage = parts.storage
        self.bot = bot = build_bot(options, self.plan.token)
        try:
            if self.plan.own:
                await bot.initialize()
            else:
                await connect(bot, options.api_root)
        except BaseException:
            with contextlib.suppress(Exception):
                await bot.shutdown()
            raise
        own_id = bot.id if self.plan.own else None
        self.tag = None if own_id is None else bot_tag(own_id)
        self.store = ChatStore(storage, parts.keyring, ttl_seconds=options.draft_ttl_seconds,
                               bot_id=own_id)
        # Telegram's 30 messages a second are each bot's own: on PostgreSQL every worker
        # shares its bot's budget (keyed by the bot's id), and bots never share one.
        budget = storage.shared_send_budget(
            bot.id, slot_interval(TELEGRAM_MESSAGES_PER_SECOND, SHARED_SPACING_MARGIN),
            late=LATE_TOLERANCE)
        sender = BotApiSender(budget=budget or LocalSendBudget(TELEGRAM_MESSAGES_PER_SECOND),
                              per_chat_per_second=options.per_chat_messages_per_second,
                              per_chat_burst=options.per_chat_burst)
        self.relay = OutboxRelay(bot, sender, self.store, storage)
        self._files = TelegramFiles(bot, max_bytes=options.max_file_bytes, sender=sender)
        self.processor = IntakeProcessor(
            bot=bot,
            conversation=conversation,
            status=StatusConversation(translations, allow_delete=parts.delete_report is not None,
                                      max_file_bytes=options.max_file_bytes),
            submitter=ReportSubmitter(storage, parts.keys, conversation, slots=parts.slots),
            followup=FollowUpService(storage, parts.keys, slots=parts.slots),
            storage=storage,
            store=self.store,
            relay=self.relay,
            fetch=self._files.stream,
            delete_report=parts.delete_report,
            delete_after_submit=options.delete_after_submit,
        )
        # Each bot tells its channels' reviewers' chats itself (it must be a member there).
        self.processor.notifiers = notifiers_for(
            notice_chats(((c.slug, c.reviewers_chat_id) for c in records),
                         options.reviewers_chat_id),
            options.notify_interval_seconds,
        )
        self._follower = ChannelFollower(
            serving=conversation, notifiers=self.processor.notifiers,
            deployment_chat=options.reviewers_chat_id,
            notify_interval_seconds=options.notify_interval_seconds, records=records,
        )
        self._tasks.append(asyncio.create_task(self.relay.run(options.relay_interval_seconds)))
        self.started = True  # from here on, stop() has everything to stop
        if options.webhook is None:
            self.poller = AtLeastOncePoller(
                bot, self.process, api_url=options.api_root,
                poll_timeout=int(options.poll_timeout), admit=self.processor.admit,
                parking=UpdateParking(storage, parts.keyring, bot, tag=self.tag))
            self._polling = asyncio.create_task(self.poller.run(self._stop))
        elif self.tag is not None and parts.routes is not None:
            # The deployment's bot is served by the webhook server itself (runtime.py).
            await self._route(options)
        log.info("bot.serving")

    async def _route(self, options: BotOptions) -> None:
        from bot.telegram.webhook import bot_path, receiver, register_webhook

        assert self.tag is not None and self._parts.routes is not None
        hook = options.webhook
        assert hook is not None
        secret = self.plan.webhook_secret or hook.secret
        self._parts.routes.add(self.tag, receiver(self.bot, self.process, secret=secret,
                                                  admit=self.processor.admit))
        if hook.public_url is not None:
            try:
                await register_webhook(self.bot, bot_path(hook.public_url, self.tag),
                                       secret=secret, max_connections=hook.max_connections)
            except TelegramError as error:
                # Its route is served all the same; Telegram keeps what was registered before.
                log.warning("webhook.register_failed hint=check INTAKE_WEBHOOK_URL; the bot is "
                            "registered again at the next start", extra={"error": type(error)})

    async def process(self, updates: Sequence[Update]) -> None:
        """The processor's, counting what it commits and what is still in flight."""
        self._inflight += 1
        self._idle.clear()
        try:
            await self.processor.process(updates)
            metrics.UPDATES_HANDLED.inc(len(updates))
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    async def follow(
        self, conversation: ChannelConversations, records: Sequence[ChannelRecord]
    ) -> None:
        await self._follower.follow(conversation, records)

    async def retire(self) -> None:
        """Stop taking updates and finish those in flight, but go on delivering what waits in
        this bot's outbox: no other bot may send it (bots.py stops the bot once it is sent)."""
        if self.tag is not None and self._parts.routes is not None:
            self._parts.routes.remove(self.tag)
        self._stop.set()
        if self._polling is not None:
            # Let the poller finish what it started (its task ends by itself).
            await asyncio.gather(self._polling, return_exceptions=True)
            self._polling = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), _INFLIGHT_GRACE_SECONDS)

    async def has_waiting(self) -> bool:
        """Whether anything of this bot's still waits in the outbox."""
        return bool(await self.store.chats_with_pending(limit=1))

    async def stop(self) -> None:
        """Stop taking updates, finish those in flight, then stop delivering (what is left
        waits in the outbox for the next start of this bot)."""
        await self.retire()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Receipts committed just before the stop still go out if Telegram answers in time.
        await self.relay.close(timeout_seconds=5.0)
        await self.processor.close()
        await self._files.aclose()
        for notifier in {id(n): n for n in self.processor.notifiers.values()}.values():
            await notifier.close()
        with contextlib.suppress(Exception):
            await self.bot.shutdown()
        log.info("bot.stopped")

