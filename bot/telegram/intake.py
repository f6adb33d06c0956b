"""One Telegram update, one transaction: the witness conversation's durable path.

For each update (or the parts of one album): take the chat's lock; if the update's mark is
already stored, only finish delivering its messages; otherwise load the chat's sealed state,
run the pure core, and commit in one transaction the new sealed state, the messages to send
(the outbox, sealed), the update's mark and, for Send, the report itself; then deliver the
outbox. A crash at any point either leaves nothing (the update comes again and is processed
afresh) or leaves everything (the mark says so, and the outbox still holds what to send).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from telegram import Bot, Update
from telegram.error import TelegramError

from bot.chat_store import ChatStore
from bot.core import (
    ChooseLanguage,
    ClearChat,
    Draft,
    DraftClosed,
    Effect,
    Event,
    Forget,
    Phase,
    Press,
    Reply,
    Start,
    SubmitRequested,
)
from bot.core.channels import ChannelConversations
from bot.core.chat import ChatState, DeleteTrail, Outgoing, SendText
from bot.core.status import (
    StatusConversation,
    StatusRequested,
)
from bot.followup import FollowUpService
from bot.i18n import SOURCE_LANGUAGE, SUPPORTED_LANGUAGES, choose_language
from bot.notifications import ReviewerNotifier
from bot.ratelimit import FloodControl
from bot.submission import (
    AttachmentUnavailable,
    Fetch,
    NoRecipientsError,
    PreparedReport,
    ReportSubmitter,
)
from bot.telegram.delivery import OutboxRelay
from bot.telegram.status_flow import DeleteReportHook, StatusFlow
from bot.telegram.updates import telegram_language, to_event
from storage import DuplicateSubmission, Storage
from storage.conversations import AlreadyProcessed

log = logging.getLogger("intake.bot")

# Fetching a report's files is tried this often; some failures are final at once.
_FETCH_ATTEMPTS = 4
_FINAL_FETCH_FAILURES = frozenset(
    {"too_large", "local_file_missing", "refused", "no_path", "http_400", "http_404"}
)

# A report sealed within this many seconds is answered by its receipt alone; a slower one (its
# files still coming from Telegram) gets "Sending…" meanwhile. About the longest a person waits
# after pressing a button without wondering whether it worked.
ANNOUNCE_AFTER = 1.0


@dataclass
class _Work:
    """What one update does: the state to keep, the messages to send, a report to store."""

    state: ChatState
    outgoing: list[Outgoing]
    prepared: PreparedReport | None = None
    submitted_by: int | None = None
    prepared_draft: Draft | None = None
    chat_key: str = ""


class IntakeProcessor:
    def __init__(
        self,
        *,
        bot: Bot,
        conversation: ChannelConversations,
        status: StatusConversation,
        submitter: ReportSubmitter,
        followup: FollowUpService,
        storage: Storage,
        store: ChatStore,
        relay: OutboxRelay,
        fetch: Fetch,
        flood: FloodControl | None = None,
        delete_report: DeleteReportHook | None = None,
        delete_after_submit: bool = True,
        notifiers: Mapping[str, ReviewerNotifier] | None = None,
        announce_after: float = ANNOUNCE_AFTER,
    ) -> None:
        self._bot = bot
        self._conversation = conversation
        self._status = status
        self._submitter = submitter
        self._storage = storage
        self._store = store
        self._relay = relay
        self._fetch = fetch
        self._flood = flood or FloodControl()
        self._status_flow = StatusFlow(
            status=status, followup=followup, flood=self._flood, fetch=fetch,
            served=lambda: self._conversation.served, delete_report=delete_report,
            submission_key=lambda update: submitter.submission_key(self._submission_id(update)),
        )
        self._delete_after_submit = delete_after_submit
        self._announce_after = announce_after
        # Per channel: its reviewers' chat is told that a report arrived (bot/notifications.py).
        self.notifiers: dict[str, ReviewerNotifier] = dict(notifiers or {})
        self._background: set[asyncio.Task[None]] = set()

    def admit(self, update: Update) -> bool:
        """Flood control, decided as an update arrives: False drops it (it is not processed).

        A flooding chat gets one short notice, sent in the background, and is then ignored
        until it slows down; nothing of a dropped update touches the database.
        """
        chat = update.effective_chat
        if chat is None:
            return True
        decision = self._flood.message(chat.id)
        if not decision.allowed and decision.warn:
            log.info("flood.limited")
            reply = self._conversation.slow_down(decision.language or telegram_language(update))
            task = asyncio.create_task(self._relay.send_now(
                SendText(chat.id, reply.text), ChatState(), wait_for_rate=False))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return decision.allowed

    async def close(self) -> None:
        """Finish the flood notices still being sent."""
        await asyncio.gather(*self._background, return_exceptions=True)

    async def process(self, updates: Sequence[Update]) -> None:
        """Process one update, or the parts of one album, exactly once in effect."""
        first = updates[0]
        chat = first.effective_chat
        if chat is None or chat.type != chat.PRIVATE:
            return
        if first.callback_query is not None:
            # Stop the button's spinner at once. A redelivered or old query can no longer be
            # answered, and a failure here must never drop the press itself.
            with contextlib.suppress(TelegramError):
                await first.callback_query.answer()
        chat_key = self._store.chat_key(chat.id)
        async with self._storage.chat_lock(chat_key):
            # Parts processed before a crash or by another worker (an album may have been
            # split differently then) are left out; if nothing is left, only finish delivering.
            keys = [self._store.update_key(self._bot.id, u.update_id) for u in updates]
            marked, state = await self._store.begin(chat_key, keys)
            fresh = [(u, k) for u, k in zip(updates, keys, strict=True) if k not in marked]
            if not fresh:
                self._relay.kick(chat_key)
                return
            updates, first = [u for u, _k in fresh], fresh[0][0]
            marks = [k for _u, k in fresh]
            for update in updates:
                message = update.effective_message
                if update.callback_query is None and message is not None:
                    state.remember(message.message_id)
            work = _Work(state, [], chat_key=chat_key)
            if first.edited_message is not None:
                reply = self._conversation.edit_ignored(
                    self._language(first, state.draft, state.language))
                work.outgoing.append(SendText(chat.id, reply.text))
            else:
                event = to_event(updates)
                if event is not None:
                    await self._handle(work, first, chat.id, event)
            await self._commit(chat_key, marks, work)
            if work.state.language is not None:
                self._flood.note_language(chat.id, work.state.language)
        self._relay.kick(chat_key)

    async def _commit(self, chat_key: str, marks: list[bytes], work: _Work) -> None:
        prepared = work.prepared
        try:
            committed = await self._store.commit(
                chat_key, marks, work.state, work.outgoing,
                prepared.report if prepared else None,
            )
        except AlreadyProcessed:
            if prepared is not None:
                prepared.discard()
            self._relay.kick(chat_key)
            return
        except DuplicateSubmission:
            # The same submission was stored under an earlier mark that has since been swept:
            # keep the one report, tell the witness, and close the draft.
            if prepared is None:
                raise
            prepared.discard()
            log.info("report.duplicate_ignored")
            work.prepared = None
            work.state.draft = None
            language = self._language_of(work)
            reply = self._conversation.already_received(language)
            chat_id = work.submitted_by or 0
            work.outgoing = [SendText(chat_id, reply.text)]
            committed = await self._store.commit(chat_key, marks, work.state, work.outgoing)
            self._relay.hand_over(chat_key, work.state, committed)
            return
        # Any other failure may have happened after the commit reached the database: the
        # payloads stay, and the orphan sweep removes them if no report refers to them.
        # Still under the chat's lock: what was just written is what the database holds.
        self._relay.hand_over(chat_key, work.state, committed)
        if prepared is not None and work.submitted_by is not None:
            log.info("report.committed")  # no item count: it would match the report to its chat
            self._flood.submitted(work.submitted_by)
            notifier = self.notifiers.get(prepared.report.channel)
            if notifier is not None:  # content-free, rate-limited, in the background
                notifier.report_arrived(self._bot)

    # -- the witness's report ---------------------------------------------------------------

    async def _handle(
        self, work: _Work, update: Update, chat_id: int, event: Event | StatusRequested
    ) -> None:
        state = work.state
        if isinstance(event, StatusRequested):
            language = self._language(update, state.draft, state.language)
            started, begun = self._status.begin(language, event.code_text)
            state.status = started
            await self._status_flow.apply(work.state, work.outgoing, update, chat_id, started,
                                          begun)
            return
        session = state.status
        if session is not None and not isinstance(event, Start | Forget | ChooseLanguage):
            next_session, status_effects = self._status.handle(session, event)
            state.status = next_session
            await self._status_flow.apply(work.state, work.outgoing, update, chat_id, session,
                                          status_effects)
            return
        state.status = None
        if state.draft is None and isinstance(event, Press) and await self._was_submitted(update):
            reply = self._conversation.already_received(
                state.language or telegram_language(update))
            work.outgoing.append(SendText(chat_id, reply.text))
            return
        if state.draft is not None:
            state.language = state.draft.language
        draft, effects = self._conversation.handle(
            state.draft, event, state.language or telegram_language(update))
        state.draft = draft
        if draft is not None:
            state.language = draft.language
        await self._apply(work, update, chat_id, draft, effects)

    async def _apply(
        self,
        work: _Work,
        update: Update,
        chat_id: int,
        draft: Draft | None,
        effects: Sequence[Effect],
        *,
        keep: bool = False,
    ) -> None:
        for effect in effects:
            if isinstance(effect, Reply):
                work.outgoing.append(SendText(chat_id, effect.text, effect.buttons, keep=keep))
            elif isinstance(effect, DraftClosed):
                work.state.draft = None
                log.info("draft.closed")
            elif isinstance(effect, ClearChat):
                work.outgoing.append(DeleteTrail(chat_id))
            elif isinstance(effect, SubmitRequested) and draft is not None:
                await self._submit(work, update, chat_id, draft, effect.announcement)

    async def _announce(
        self, work: _Work, chat_id: int, draft: Draft, key: str, announcement: str
    ) -> None:
        """Say "Sending…" while the report is still being sealed: committed to the outbox,
        without the update's mark and with the draft as it was before Send, then delivered at
        once (unless earlier messages wait: it must not overtake them). A restart before the
        receipt still delivers it, and processes the update again, which sends the report
        without announcing it twice."""
        state = work.state
        draft.phase, state.announced = Phase.SUMMARY, key
        try:
            outgoing = [*work.outgoing, SendText(chat_id, announcement)]
            earlier = await self._store.has_pending(work.chat_key)
            committed = await self._store.commit(work.chat_key, [], state, outgoing)
            if not earlier:
                await self._relay.deliver_held(work.chat_key, state, committed)
        finally:
            draft.phase, state.announced = Phase.SUBMITTING, None
        work.outgoing.clear()

    async def _sealed(
        self, work: _Work, update: Update, chat_id: int, draft: Draft, announcement: str
    ) -> PreparedReport:
        """The report sealed; "Sending…" is said only if that takes longer than a witness
        waits without wondering (its files are still coming from Telegram), and never twice
        for one update."""
        key = self._store.update_key(self._bot.id, update.update_id).hex()
        announced, work.state.announced = work.state.announced == key, None
        sealing = asyncio.ensure_future(self._prepare(draft, update))
        try:
            done, _pending = await asyncio.wait({sealing}, timeout=self._announce_after)
            if not done and not announced:
                await self._announce(work, chat_id, draft, key, announcement)
            return await sealing
        finally:
            # Failed or cancelled before the seal was done: the sealing ends here, under the
            # chat's lock, not later on its own (and its own error, if any, is not left
            # unretrieved).
            if not sealing.done():
                sealing.cancel()
            await asyncio.gather(sealing, return_exceptions=True)

    async def _submit(
        self, work: _Work, update: Update, chat_id: int, draft: Draft, announcement: str
    ) -> None:
        conversation = self._conversation
        if not self._flood.may_submit(chat_id):
            log.info("report.daily_limit")
            await self._apply(work, update, chat_id, draft, conversation.submit_failed(
                draft, "limit"))
            return
        try:
            prepared = await self._sealed(work, update, chat_id, draft, announcement)
        except NoRecipientsError:
            log.error("report.no_recipients hint=run `intake reviewer add` to register a key")
            failed = conversation.submit_failed(draft, "unavailable")
        except AttachmentUnavailable as error:
            log.warning("report.attachment_unavailable", extra={"reason": error.reason})
            failed = conversation.submit_failed(draft, "file")
        except Exception as error:
            log.exception("report.submit_failed", extra={"error": type(error)})
            failed = conversation.submit_failed(draft, "error")
        else:
            work.prepared = prepared
            work.submitted_by = chat_id
            work.prepared_draft = draft
            # The receipt stays on the phone; the rest of the conversation is deleted only
            # after the receipt has been delivered (the outbox keeps this order).
            await self._apply(work, update, chat_id, draft,
                              conversation.submitted(draft, prepared.receipt.code), keep=True)
            if self._delete_after_submit:
                work.outgoing.append(DeleteTrail(chat_id))
            return
        await self._apply(work, update, chat_id, draft, failed)

    async def _prepare(self, draft: Draft, update: Update) -> PreparedReport:
        """Seal the report; a file Telegram failed to hand over (a 5xx, a dropped download) is
        fetched again a few times before the witness is asked to send it again."""
        for attempt in range(1, _FETCH_ATTEMPTS + 1):
            try:
                return await self._submitter.prepare(
                    draft, submission_id=self._submission_id(update), fetch=self._fetch
                )
            except AttachmentUnavailable as error:
                if attempt == _FETCH_ATTEMPTS or error.reason in _FINAL_FETCH_FAILURES:
                    raise
                log.info("report.attachment_retry", extra={"reason": error.reason})
                await asyncio.sleep(0.5 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- helpers ----------------------------------------------------------------------------

    async def _was_submitted(self, update: Update) -> bool:
        key = self._submitter.submission_key(self._submission_id(update))
        return await self._storage.reports.find_by_submission_key(key) is not None

    def _submission_id(self, update: Update) -> str:
        # The same update redelivered maps to the same id, so it can never create a second report.
        return f"{self._bot.id}:{update.update_id}"

    def _language_of(self, work: _Work) -> str:
        draft = work.prepared_draft
        return draft.language if draft is not None else SOURCE_LANGUAGE

    def _language(self, update: Update, draft: Draft | None, known: str | None = None) -> str:
        if draft is not None:
            return draft.language
        if known is not None:
            return known
        return choose_language(telegram_language(update), SUPPORTED_LANGUAGES) or SOURCE_LANGUAGE


__all__ = ["DeleteReportHook", "DuplicateSubmission", "IntakeProcessor"]
