"""python-telegram-bot adapter: Update -> core Event, core Effects -> Bot API calls.

Nothing here decides what to ask or how to answer; that is the core's job. This module only
translates, keeps drafts per chat (keyed by a pseudonym), remembers which messages belong to the
conversation so they can be deleted, and runs the submission when the core asks for it. It never
logs message content, names, usernames or ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.core import (
    Cancel,
    ChooseLanguage,
    ClearChat,
    Conversation,
    Draft,
    DraftClosed,
    Effect,
    Event,
    Forget,
    LocationInput,
    MediaInput,
    MediaRef,
    Press,
    Reply,
    Start,
    SubmitRequested,
    TextInput,
    Unsupported,
)
from bot.core.status import (
    MAX_ATTEMPTS,
    DeleteIncoming,
    DeleteReport,
    LookUpCode,
    SendAdditions,
    SessionClosed,
    StatusConversation,
    StatusEffect,
    StatusRequested,
    StatusSession,
)
from bot.drafts import DraftStore, SessionStore
from bot.followup import FollowUpService
from bot.i18n import SOURCE_LANGUAGE, SUPPORTED_LANGUAGES, choose_language, translations
from bot.notifications import ReviewerNotifier
from bot.ratelimit import FloodControl
from bot.submission import (
    AlreadySubmitted,
    AttachmentUnavailable,
    Fetch,
    NoRecipientsError,
    ReportSubmitter,
)
from crypto.receipts import pseudonym
from storage import Storage

log = logging.getLogger("intake.bot")

# Telegram lets a bot delete messages in a private chat for 48 hours, at most 100 per call.
_DELETABLE_SECONDS = 48 * 3600

# Crypto-shreds one report; supplied by whoever wires the bot (the organisation may not allow it).
DeleteReportHook = Callable[[str], Awaitable[bool]]
_DELETE_BATCH = 100
_TRAIL_LIMIT = 1000


@dataclass
class _Trail:
    """The message ids of one chat's conversation, in memory only, for deleting them later."""

    message_ids: list[int] = field(default_factory=list)
    updated: float = field(default_factory=time.monotonic)


@dataclass
class _Album:
    files: list[MediaRef] = field(default_factory=list)
    flush: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class AdapterOptions:
    delete_after_submit: bool = True
    # Telegram sends an album as separate messages a few milliseconds apart; wait this long
    # after the last one before treating them as one answer.
    album_wait_seconds: float = 0.8


class TelegramAdapter:
    def __init__(
        self,
        conversation: Conversation,
        submitter: ReportSubmitter,
        storage: Storage,
        drafts: DraftStore,
        *,
        followup: FollowUpService,
        flood: FloodControl | None = None,
        options: AdapterOptions = AdapterOptions(),
        delete_report: DeleteReportHook | None = None,
    ) -> None:
        self._followup = followup
        self._delete_report = delete_report
        self._status = StatusConversation(
            translations,
            allow_delete=delete_report is not None,
            max_file_bytes=conversation.max_file_bytes,
        )
        self._status_sessions: SessionStore[StatusSession] = SessionStore(drafts.ttl_seconds)
        self._conversation = conversation
        self._submitter = submitter
        self._storage = storage
        self._drafts = drafts
        self._flood = flood or FloodControl()
        self._options = options
        self.notifier: ReviewerNotifier | None = None
        # Drafts are keyed by a pseudonym under a key that lives only in this process's memory.
        self._pseudonym_key = secrets.token_bytes(32)
        self._trails: dict[str, _Trail] = {}
        self._albums: dict[tuple[str, str], _Album] = {}

    def install(self, application: Application) -> None:  # type: ignore[type-arg]
        private = filters.ChatType.PRIVATE
        application.add_handler(CallbackQueryHandler(self.on_update))
        application.add_handler(
            MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, self.on_edit)
        )
        application.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE,
                                               self.on_update))
        application.add_error_handler(self.on_error)

    def sweep(self) -> None:
        """Forget message ids that Telegram would no longer let us delete anyway."""
        cutoff = time.monotonic() - _DELETABLE_SECONDS
        for key in [k for k, t in self._trails.items() if t.updated < cutoff]:
            del self._trails[key]
        # A /status session holds the receipt code in memory: forget idle ones.
        self._status_sessions.sweep()

    async def on_edit(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An edit of an earlier message is not an answer to the current question."""
        chat = update.effective_chat
        if chat is None or not self._flood.message(chat.id).allowed:
            return
        key = pseudonym(self._pseudonym_key, chat.id)
        draft = self._drafts.get(key)
        reply = self._conversation.edit_ignored(self._witness_language(update, draft))
        await self._send(context, chat.id, key, [reply])

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None or chat.type != chat.PRIVATE:
            return
        if update.callback_query is not None:
            # Stop the button's spinner at once; the answer comes as a message. A redelivered
            # or old query can no longer be answered, which must not stop us handling it.
            with contextlib.suppress(BadRequest):
                await update.callback_query.answer()
        decision = self._flood.message(chat.id)
        key = pseudonym(self._pseudonym_key, chat.id)
        message = update.effective_message
        if update.callback_query is None and message is not None:
            self._remember(key, message.message_id)
        if not decision.allowed:
            if decision.warn:
                log.info("flood.limited")
                language = self._language(update)
                await self._send(context, chat.id, key, [self._conversation.slow_down(language)])
            return
        event = self._event(update)
        if event is None:
            return
        group = message.media_group_id if message is not None else None
        if isinstance(event, MediaInput) and group is not None:
            self._collect_album(context, update, key, group, event)
            return
        await self._dispatch(context, update, chat.id, key, event)

    def _collect_album(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        update: Update,
        key: str,
        group: str,
        event: MediaInput,
    ) -> None:
        album = self._albums.setdefault((key, group), _Album())
        album.files.extend(event.files)
        if album.flush is not None:
            album.flush.cancel()

        async def flush() -> None:
            await asyncio.sleep(self._options.album_wait_seconds)
            finished = self._albums.pop((key, group))
            chat = update.effective_chat
            assert chat is not None
            await self._dispatch(context, update, chat.id, key, MediaInput(tuple(finished.files)))

        album.flush = asyncio.create_task(flush())

    async def _dispatch(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        update: Update,
        chat_id: int,
        key: str,
        event: Event | StatusRequested,
    ) -> None:
        async with self._drafts.lock(key):
            if isinstance(event, StatusRequested):
                language = self._witness_language(update, self._drafts.get(key))
                started, status_effects = self._status.begin(language, event.code_text)
                self._status_sessions.put(key, started)
                await self._apply_status(context, update, chat_id, key, started, status_effects)
                return
            session = self._status_sessions.get(key)
            if session is not None and not isinstance(event, Start | Forget | ChooseLanguage):
                next_session, status_effects = self._status.handle(session, event)
                if next_session is None:
                    self._status_sessions.drop(key)
                else:
                    self._status_sessions.put(key, next_session)
                await self._apply_status(context, update, chat_id, key, session, status_effects)
                return
            self._status_sessions.drop(key)
            draft = self._drafts.get(key)
            if (
                draft is None
                and isinstance(event, Press)
                and await self._was_submitted(context, update)
            ):
                reply = self._conversation.already_received(self._language(update))
                await self._send(context, chat_id, key, [reply])
                return
            draft, effects = self._conversation.handle(draft, event)
            if draft is not None:
                self._drafts.put(key, draft)
            await self._apply(context, update, chat_id, key, draft, effects)

    async def _apply(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        update: Update,
        chat_id: int,
        key: str,
        draft: Draft | None,
        effects: Sequence[Effect],
    ) -> None:
        for effect in effects:
            if isinstance(effect, Reply):
                await self._send(context, chat_id, key, [effect])
            elif isinstance(effect, DraftClosed):
                self._drafts.drop(key)
                log.info("draft.closed")
            elif isinstance(effect, ClearChat):
                await self._clear_chat(context, chat_id, key)
            elif isinstance(effect, SubmitRequested) and draft is not None:
                follow_up = await self._submit(context, update, chat_id, draft)
                await self._apply(context, update, chat_id, key, draft, follow_up)

    async def _apply_status(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        update: Update,
        chat_id: int,
        key: str,
        session: StatusSession,
        effects: Sequence[StatusEffect],
    ) -> None:
        for effect in effects:
            more: list[StatusEffect] = []
            if isinstance(effect, Reply):
                await self._send(context, chat_id, key, [effect])
            elif isinstance(effect, SessionClosed):
                self._status_sessions.drop(key)
            elif isinstance(effect, DeleteIncoming) and update.effective_message is not None:
                with contextlib.suppress(BadRequest, Forbidden):
                    await update.effective_message.delete()
            elif isinstance(effect, LookUpCode):
                more = await self._look_up(chat_id, key, session, effect.code)
            elif isinstance(effect, SendAdditions) and session.report_id is not None:
                more = await self._send_additions(context, session)
            elif (
                isinstance(effect, DeleteReport)
                and session.report_id is not None
                and self._delete_report is not None
            ):
                await self._delete_report(session.report_id)
                log.info("report.deleted_by_witness")
                await self._clear_chat(context, chat_id, key)
                more = self._status.deleted(session)
            await self._apply_status(context, update, chat_id, key, session, more)

    async def _look_up(
        self, chat_id: int, key: str, session: StatusSession, code: str
    ) -> list[StatusEffect]:
        if not self._flood.may_try_code(chat_id):
            log.info("status.attempts_exhausted")
            self._status_sessions.drop(key)
            session.attempts = MAX_ATTEMPTS
            _next, effects = self._status.not_found(session)
            return effects
        found = await self._followup.look_up(code)
        if found is None:
            log.info("status.no_match")
            next_session, effects = self._status.not_found(session)
            if next_session is None:
                self._status_sessions.drop(key)
            return effects
        log.info("status.shown")
        return self._status.found(session, found.report_id, found.view)

    async def _send_additions(
        self, context: ContextTypes.DEFAULT_TYPE, session: StatusSession
    ) -> list[StatusEffect]:
        assert session.report_id is not None
        try:
            await self._followup.add(
                session.report_id, session.texts, session.files, self._fetcher(context)
            )
        except Exception as error:
            log.warning("followup.failed", extra={"error": type(error)})
            return self._status.send_failed(session)
        return self._status.sent(session)

    def _fetcher(self, context: ContextTypes.DEFAULT_TYPE) -> Fetch:
        # Streams each file in chunks straight into its sealed item (bot/telegram/download.py).
        from bot.telegram.download import TelegramFiles

        return TelegramFiles(context.bot, max_bytes=self._conversation.max_file_bytes).stream

    async def _submit(
        self, context: ContextTypes.DEFAULT_TYPE, update: Update, chat_id: int, draft: Draft
    ) -> list[Effect]:
        if not self._flood.may_submit(chat_id):
            log.info("report.daily_limit")
            return self._conversation.submit_failed(draft, "limit")

        try:
            receipt = await self._submitter.submit(
                draft,
                submission_id=self._submission_id(context, update),
                fetch=self._fetcher(context),
            )
        except AlreadySubmitted:
            log.info("report.duplicate_ignored")
            return [self._conversation.already_received(draft.language), DraftClosed()]
        except NoRecipientsError:
            log.error("report.no_recipients hint=run `intake reviewer add` to register a key")
            return self._conversation.submit_failed(draft, "unavailable")
        except AttachmentUnavailable as error:
            log.warning("report.attachment_unavailable", extra={"error": type(error.__cause__)})
            return self._conversation.submit_failed(draft, "file")
        except Exception as error:
            log.exception("report.submit_failed", extra={"error": type(error)})
            return self._conversation.submit_failed(draft, "error")
        self._flood.submitted(chat_id)
        if self.notifier is not None:  # content-free, rate-limited, in the background
            self.notifier.report_arrived(context.bot)
        effects = self._conversation.submitted(draft, receipt.code)
        if self._options.delete_after_submit:
            # Clear the conversation first, so only the receipt is left on the phone.
            return [ClearChat(), *effects]
        return effects

    async def _clear_chat(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, key: str) -> None:
        trail = self._trails.pop(key, None)
        if trail is None:
            return
        ids = sorted(set(trail.message_ids))
        for start in range(0, len(ids), _DELETE_BATCH):
            # Messages older than 48 hours, or already deleted by the witness, cannot be
            # deleted; that must not stop the rest.
            with contextlib.suppress(BadRequest, Forbidden):
                await context.bot.delete_messages(chat_id, ids[start : start + _DELETE_BATCH])
        log.info("chat.cleared", extra={"count": len(ids)})

    def _remember(self, key: str, message_id: int) -> None:
        trail = self._trails.setdefault(key, _Trail())
        trail.message_ids.append(message_id)
        del trail.message_ids[:-_TRAIL_LIMIT]
        trail.updated = time.monotonic()

    async def _was_submitted(self, context: ContextTypes.DEFAULT_TYPE, update: Update) -> bool:
        key = self._submitter.submission_key(self._submission_id(context, update))
        return await self._storage.reports.find_by_submission_key(key) is not None

    @staticmethod
    def _submission_id(context: ContextTypes.DEFAULT_TYPE, update: Update) -> str:
        # The same update redelivered maps to the same id, so it can never create a second report.
        return f"{context.bot.id}:{update.update_id}"

    def _witness_language(self, update: Update, draft: Draft | None) -> str:
        if draft is not None:
            return draft.language
        return choose_language(self._language(update), SUPPORTED_LANGUAGES) or SOURCE_LANGUAGE

    def _language(self, update: Update) -> str:
        user = update.effective_user
        return (user.language_code if user else None) or ""

    def _event(self, update: Update) -> Event | StatusRequested | None:
        if update.callback_query is not None:
            return Press(update.callback_query.data or "")
        message = update.effective_message
        if message is None:
            return None
        if message.text is not None:
            command = _command(message)
            if command is None:
                return TextInput(message.text)
            make = _COMMANDS.get(command)
            arguments = message.text.split(maxsplit=1)[1] if " " in message.text.strip() else ""
            return make(self._language(update), arguments) if make else Unsupported()
        media = _media(message)
        if media is not None:
            return MediaInput((media,))
        location = message.location or (message.venue.location if message.venue else None)
        if location is not None:
            return LocationInput(location.latitude, location.longitude)
        return Unsupported()

    async def _send(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        chat_id: int,
        key: str,
        replies: Sequence[Reply],
    ) -> None:
        for reply in replies:
            markup = None
            if reply.buttons:
                markup = InlineKeyboardMarkup([
                    [InlineKeyboardButton(b.label, callback_data=b.token) for b in row]
                    for row in reply.buttons
                ])
            try:
                sent = await context.bot.send_message(
                    chat_id, reply.text, reply_markup=markup, protect_content=True
                )
            except Forbidden:
                # The witness blocked the bot or deleted the chat: nothing to deliver to.
                log.info("chat.unreachable")
                return
            self._remember(key, sent.message_id)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # The error's message may quote what the witness sent; log its type only.
        log.error("update.failed", extra={"error": type(context.error)})


_COMMANDS: dict[str, Callable[[str, str], Event | StatusRequested]] = {
    "start": lambda language, _arguments: Start(language),
    "cancel": lambda _language, _arguments: Cancel(),
    "forget": lambda _language, _arguments: Forget(),
    "language": lambda _language, _arguments: ChooseLanguage(),
    "status": lambda _language, arguments: StatusRequested(arguments),
}


def _command(message: Message) -> str | None:
    text = message.text or ""
    if not text.startswith("/"):
        return None
    word = text.split(maxsplit=1)[0][1:]
    return word.split("@", 1)[0].lower()


def _media(message: Message) -> MediaRef | None:
    if message.photo:
        largest = message.photo[-1]
        return MediaRef(
            "photo", largest.file_id, largest.file_size, None, "image/jpeg", message.caption
        )
    for kind in ("video", "voice", "audio", "document", "video_note", "animation"):
        attachment = getattr(message, kind)
        if attachment is not None:
            return MediaRef(
                "video" if kind in ("video_note", "animation") else kind,
                attachment.file_id,
                attachment.file_size,
                getattr(attachment, "file_name", None),
                getattr(attachment, "mime_type", None),
                message.caption,
            )
    return None
