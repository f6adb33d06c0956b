"""python-telegram-bot adapter: Update -> core Event, core Effects -> Bot API calls.

Nothing here decides what to ask or how to answer; that is the core's job. This module only
translates, keeps drafts per chat (keyed by a pseudonym), and runs the submission when the core
asks for it. It never logs message content, names, usernames or ids.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.core import (
    Cancel,
    Conversation,
    Draft,
    DraftClosed,
    Effect,
    Event,
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
from bot.drafts import DraftStore
from bot.submission import (
    AlreadySubmitted,
    AttachmentUnavailable,
    NoRecipientsError,
    ReportSubmitter,
)
from crypto.receipts import pseudonym
from storage import Storage

log = logging.getLogger("intake.bot")


class TelegramAdapter:
    def __init__(
        self,
        conversation: Conversation,
        submitter: ReportSubmitter,
        storage: Storage,
        drafts: DraftStore,
    ) -> None:
        self._conversation = conversation
        self._submitter = submitter
        self._storage = storage
        self._drafts = drafts
        # Drafts are keyed by a pseudonym under a key that lives only in this process's memory.
        self._pseudonym_key = secrets.token_bytes(32)

    def install(self, application: Application) -> None:  # type: ignore[type-arg]
        private = filters.ChatType.PRIVATE
        application.add_handler(CallbackQueryHandler(self.on_update))
        application.add_handler(MessageHandler(private, self.on_update))
        application.add_error_handler(self.on_error)

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None or chat.type != chat.PRIVATE:
            return
        if update.callback_query is not None:
            # Stop the button's spinner at once; the answer comes as a message. A redelivered
            # or old query can no longer be answered, which must not stop us handling it.
            with contextlib.suppress(BadRequest):
                await update.callback_query.answer()
        event = self._event(update)
        if event is None:
            return
        key = pseudonym(self._pseudonym_key, chat.id)
        async with self._drafts.lock(key):
            draft = self._drafts.get(key)
            if (
                draft is None
                and isinstance(event, Press)
                and await self._was_submitted(context, update)
            ):
                reply = self._conversation.already_received(self._language(update))
                await self._send(context, chat.id, [reply])
                return
            draft, effects = self._conversation.handle(draft, event)
            if draft is not None:
                self._drafts.put(key, draft)
            await self._apply(context, update, chat.id, key, draft, effects)

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
                await self._send(context, chat_id, [effect])
            elif isinstance(effect, DraftClosed):
                self._drafts.drop(key)
                log.info("draft.closed")
            elif isinstance(effect, SubmitRequested) and draft is not None:
                follow_up = await self._submit(context, update, draft)
                await self._apply(context, update, chat_id, key, draft, follow_up)

    async def _submit(
        self, context: ContextTypes.DEFAULT_TYPE, update: Update, draft: Draft
    ) -> list[Effect]:
        async def fetch(media: MediaRef) -> bytes:
            telegram_file = await context.bot.get_file(media.handle)
            return bytes(await telegram_file.download_as_bytearray())

        try:
            receipt = await self._submitter.submit(
                draft, submission_id=self._submission_id(context, update), fetch=fetch
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
        return self._conversation.submitted(draft, receipt.code)

    async def _was_submitted(self, context: ContextTypes.DEFAULT_TYPE, update: Update) -> bool:
        key = self._submitter.submission_key(self._submission_id(context, update))
        return await self._storage.reports.find_by_submission_key(key) is not None

    @staticmethod
    def _submission_id(context: ContextTypes.DEFAULT_TYPE, update: Update) -> str:
        # The same update redelivered maps to the same id, so it can never create a second report.
        return f"{context.bot.id}:{update.update_id}"

    def _language(self, update: Update) -> str:
        user = update.effective_user
        return (user.language_code if user else None) or ""

    def _event(self, update: Update) -> Event | None:
        if update.callback_query is not None:
            return Press(update.callback_query.data or "")
        message = update.effective_message
        if message is None:
            return None
        if message.text is not None:
            command = _command(message)
            if command == "start":
                return Start(self._language(update))
            if command == "cancel":
                return Cancel()
            return TextInput(message.text)
        media = _media(message)
        if media is not None:
            return MediaInput((media,))
        if message.location is not None:
            return LocationInput(message.location.latitude, message.location.longitude)
        return Unsupported()

    async def _send(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, replies: Sequence[Reply]
    ) -> None:
        for reply in replies:
            markup = None
            if reply.buttons:
                markup = InlineKeyboardMarkup([
                    [InlineKeyboardButton(b.label, callback_data=b.token) for b in row]
                    for row in reply.buttons
                ])
            await context.bot.send_message(
                chat_id, reply.text, reply_markup=markup, protect_content=True
            )

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # The error's message may quote what the witness sent; log its type only.
        log.error("update.failed", extra={"error": type(context.error)})


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
