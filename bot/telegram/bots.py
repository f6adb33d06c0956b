"""The installation's bots, kept in step with the channels (docs/channels.md, "A bot of its own").

The supervisor reads the channels (and their questionnaire, token and webhook secret files)
every channel_refresh_seconds. Each bot in the plan (bot_plan.py) runs as one BotUnit: a bot
given to a channel starts (polling, or its webhook route); one no channel names any more stops
taking updates, finishes its work in flight, delivers what waits in its outbox (no other bot
may), then stops; every running bot is told its channels. A channel whose files cannot be used
leaves everything as it was, with one warning, until it is fixed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from bot.channel_loading import ChannelSetupError, channel_entries
from bot.core import Questionnaire
from bot.core.channels import ChannelConversations, ChannelEntry
from bot.telegram.bot_plan import BotFileError, BotPlan, plan_bots
from bot.telegram.bot_unit import BotUnit, SharedParts
from bot.telegram.channel_refresh import REFRESH_SECONDS, signature_of
from bot.telegram.health import ChannelBots
from storage.records import ChannelRecord

log = logging.getLogger("intake.channels")


class BotSupervisor:
    def __init__(self, parts: SharedParts, deployment_questionnaire: Questionnaire) -> None:
        self._parts = parts
        self._questionnaire = deployment_questionnaire
        # Running bots by token (held in memory only, never logged).
        self._units: dict[str, BotUnit] = {}
        self._signature: object = None
        # The tokens of the bots the channels last asked for (started or not).
        self._planned: set[str] = set()
        # Bots no channel names any more that still have messages waiting: they deliver them
        # (nobody else may) and are stopped once none is left (bot_unit.BotUnit.retire).
        self._retiring: dict[str, BotUnit] = {}
        self._stopping: set[asyncio.Future[None]] = set()

    @property
    def deployment(self) -> BotUnit:
        """The deployment's own bot (INTAKE_BOT_TOKEN): always running."""
        return self._units[self._parts.options.token]

    @property
    def units(self) -> list[BotUnit]:
        return list(self._units.values())

    @property
    def retiring(self) -> int:
        """Bots taken away from their channels that still deliver what waits."""
        return len(self._retiring)

    def health(self) -> ChannelBots:
        """What /readyz asks about channels' own bots (bot/telegram/health.py)."""
        return ChannelBots(
            running=lambda: [(u.tag, u.bot) for u in self._units.values() if u.tag is not None],
            not_started=lambda: len(self._planned - self._units.keys()),
        )

    async def start(self) -> None:
        """Start every bot; raises ChannelSetupError or BotFileError (naming the channel and
        the fix) when a channel cannot be served. A channel's own bot that the Bot API refuses
        is left out with a warning, and tried again at the next refresh."""
        records = await self._parts.storage.channels.all()
        plans = plan_bots(records, self._parts.options.token)
        entries = self._entries(records)
        self._signature = self._signature_of(records, plans)
        self._planned = {p.token for p in plans}
        for plan in plans:
            await self._start(plan, entries, records)

    def _entries(self, records: Sequence[ChannelRecord]) -> dict[str, ChannelEntry]:
        return channel_entries(records, self._questionnaire, self._parts.make)

    def _signature_of(self, records: Sequence[ChannelRecord], plans: Sequence[BotPlan]) -> object:
        bots = tuple((p.token, p.webhook_secret, p.channels) for p in plans)
        return signature_of(records), bots

    def _conversation(
        self, plan: BotPlan, entries: dict[str, ChannelEntry]
    ) -> ChannelConversations:
        return ChannelConversations(entries, chooser=self._parts.options.channel_chooser,
                                    home=plan.home, served=plan.channels)

    async def _start(
        self, plan: BotPlan, entries: dict[str, ChannelEntry], records: Sequence[ChannelRecord]
    ) -> None:
        unit = BotUnit(plan, self._parts)
        try:
            await unit.start(self._conversation(plan, entries), records)
        except BaseException as error:
            if unit.started:  # cancelled (the installation stopping) half-way: stop it whole
                await unit.stop()
            # A channel's own bot that cannot start (refused, unreachable, or any other failure)
            # must not stop the others from following the channels: it is tried next round.
            if not plan.own or not isinstance(error, Exception):
                raise
            # The token's own text may be in the error's message: only its type is logged.
            log.warning("bot.start_failed hint=check the channel's --bot-token-file (`intake "
                        "channel show SLUG`); tried again at the next refresh",
                        extra={"error": type(error)})
            return
        self._units[plan.token] = unit

    async def refresh(self) -> bool:
        """Read the channels; True when they changed and are now served."""
        await self._stop_retired()
        records = await self._parts.storage.channels.all()
        try:
            plans = plan_bots(records, self._parts.options.token)
        except BotFileError:
            signature: object = ("refused", signature_of(records))
            if signature != self._signature:
                self._signature = signature
                log.warning("bots.reload_refused hint=a channel's bot token or webhook secret "
                            "file cannot be used: `intake channel show SLUG` names it; the "
                            "bots as they were stay in use")
            return False
        signature = self._signature_of(records, plans)
        missing = [p for p in plans if p.token not in self._units]
        if signature == self._signature and not missing:
            return False
        unchanged = signature == self._signature
        self._signature = signature  # a broken channel is warned about once, not every round
        self._planned = {p.token for p in plans}
        try:
            entries = self._entries(records)
        except ChannelSetupError:
            if unchanged:
                return False
            log.warning("channels.reload_refused hint=run `intake channel list` and fix the "
                        "channel named there; the channels as they were stay in use")
            return False
        if unchanged:
            # Nothing changed but a bot the Bot API refused before: try it again.
            for plan in missing:
                await self._start(plan, entries, records)
            return False
        wanted = {p.token: p for p in plans}
        for token, unit in list(self._units.items()):
            if token not in wanted:
                # Its waiting messages are still delivered, by it alone, until none is left.
                del self._units[token]
                await self._shielded(unit.retire())
                self._retiring[token] = unit
            elif wanted[token].webhook_secret != unit.plan.webhook_secret:
                del self._units[token]
                await self._shielded(unit.stop())
        for plan in plans:
            running = self._units.get(plan.token)
            if running is None and plan.token in self._retiring:
                # Given back before its messages went out: the new start delivers them.
                await self._shielded(self._retiring.pop(plan.token).stop())
            if running is None:
                await self._start(plan, entries, records)
            else:
                running.plan = plan
                await running.follow(self._conversation(plan, entries), records)
        log.info("channels.reloaded")
        return True

    async def _shielded(self, step: Coroutine[Any, Any, None]) -> None:
        # Shielded: if the installation stops meanwhile, close() waits for it still.
        stopping = asyncio.ensure_future(step)
        self._stopping.add(stopping)
        stopping.add_done_callback(self._stopping.discard)
        await asyncio.shield(stopping)

    async def _stop_retired(self) -> None:
        for token, unit in list(self._retiring.items()):
            if not await unit.has_waiting():  # swept after two days at the latest
                del self._retiring[token]
                await self._shielded(unit.stop())

    async def run(self, interval_seconds: float = REFRESH_SECONDS) -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await self.refresh()
            except Exception as error:  # the database is away: the next round tries again
                log.warning("channels.reload_failed", extra={"error": type(error)})

    async def close(self) -> None:
        """Stop every bot, each finishing its work in flight."""
        units = [*self._units.values(), *self._retiring.values()]
        self._units, self._retiring = {}, {}
        await asyncio.gather(*(unit.stop() for unit in units), *self._stopping,
                             return_exceptions=True)
