"""/status in one chat, inside the update's transaction: carry out what the pure status core
(bot/core/status.py) asks for, looking a report up by its receipt code, sealing what the witness
adds to it, or shredding it where the organisation allows, and queue the answers.

The update's state and outbox are the caller's (bot/telegram/intake.py): what this adds is
committed with the update's mark, in the same one transaction as everything else it does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence

from telegram import Update

from bot.core import Reply
from bot.core.chat import ChatState, DeleteMessages, DeleteTrail, Outgoing, SendText
from bot.core.status import (
    MAX_ATTEMPTS,
    DeleteIncoming,
    DeleteReport,
    LookUpCode,
    SendAdditions,
    SessionClosed,
    StatusConversation,
    StatusEffect,
    StatusSession,
)
from bot.followup import FollowUpService
from bot.ratelimit import FloodControl
from bot.submission import Fetch

log = logging.getLogger("intake.bot")

# Crypto-shreds one report; supplied by whoever wires the bot (the organisation may not allow it).
DeleteReportHook = Callable[[str], Awaitable[bool]]


class StatusFlow:
    def __init__(
        self,
        *,
        status: StatusConversation,
        followup: FollowUpService,
        flood: FloodControl,
        fetch: Fetch,
        served: Callable[[], Collection[str]],
        submission_key: Callable[[Update], bytes],
        delete_report: DeleteReportHook | None,
    ) -> None:
        self._status = status
        self._followup = followup
        self._flood = flood
        self._fetch = fetch
        # The channels the bot serves now (they follow the channel settings): a code finds
        # reports of these only.
        self._served = served
        # The same key a report sent by this update would have: additions redelivered after a
        # crash are recognised, never added twice.
        self._submission_key = submission_key
        self._delete_report = delete_report

    async def apply(
        self,
        state: ChatState,
        outgoing: list[Outgoing],
        update: Update,
        chat_id: int,
        session: StatusSession,
        effects: Sequence[StatusEffect],
    ) -> None:
        for effect in effects:
            more: list[StatusEffect] = []
            if isinstance(effect, Reply):
                outgoing.append(SendText(chat_id, effect.text, effect.buttons))
            elif isinstance(effect, SessionClosed):
                state.status = None
            elif isinstance(effect, DeleteIncoming) and update.effective_message is not None:
                message_id = update.effective_message.message_id
                outgoing.append(DeleteMessages(chat_id, (message_id,)))
            elif isinstance(effect, LookUpCode):
                more = await self._look_up(state, chat_id, session, effect.code)
            elif isinstance(effect, SendAdditions) and session.report_id is not None:
                more = await self._send_additions(session, update)
            elif (
                isinstance(effect, DeleteReport)
                and session.report_id is not None
                and self._delete_report is not None
            ):
                await self._delete_report(session.report_id)
                log.info("report.deleted_by_witness")
                outgoing.append(DeleteTrail(chat_id))
                more = self._status.deleted(session)
            await self.apply(state, outgoing, update, chat_id, session, more)

    async def _look_up(
        self, state: ChatState, chat_id: int, session: StatusSession, code: str
    ) -> list[StatusEffect]:
        if not self._flood.may_try_code(chat_id):
            log.info("status.attempts_exhausted")
            state.status = None
            session.attempts = MAX_ATTEMPTS
            _next, effects = self._status.not_found(session)
            return effects
        found = await self._followup.look_up(code, self._served())
        if found is None:
            log.info("status.no_match")
            next_session, effects = self._status.not_found(session)
            if next_session is None:
                state.status = None
            return effects
        log.info("status.shown")
        return self._status.found(session, found.report_id, found.view)

    async def _send_additions(self, session: StatusSession, update: Update) -> list[StatusEffect]:
        assert session.report_id is not None
        try:
            await self._followup.add(
                session.report_id, session.texts, session.files, self._fetch,
                submission_key=self._submission_key(update),
            )
        except Exception as error:
            log.warning("followup.failed", extra={"error": type(error)})
            return self._status.send_failed(session)
        return self._status.sent(session)
