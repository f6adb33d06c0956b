"""Submitting a report: seal every part to the reviewers, sign custody, commit, then receipt.

The order is the promise: payload blobs are written and synced, then one database transaction
stores every header; only after it commits does the witness hear "received". A crash before the
commit leaves orphan ciphertext and no acknowledgement; a crash after it loses nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core import AttachmentFacts, Conversation, Draft, MediaAnswer, MediaRef, report_document
from bot.sealing import ItemSealer, NoRecipientsError, signed_manifest
from bot.working_copy import stripped_copy
from crypto.receipts import new_receipt_code, receipt_keys, submission_key
from storage import DuplicateSubmission, ItemRole, NewItem, NewReport, Storage
from storage.server_keys import ServerKeys

__all__ = ["AlreadySubmitted", "AttachmentUnavailable", "NoRecipientsError", "ReportSubmitter"]

log = logging.getLogger("intake.submission")

Fetch = Callable[[MediaRef], Awaitable[bytes]]


class AttachmentUnavailable(Exception):
    """An attachment could not be fetched from Telegram (expired, too big, network)."""


class AlreadySubmitted(Exception):
    def __init__(self, report_id: str) -> None:
        super().__init__("this submission was already stored")
        self.report_id = report_id


@dataclass(frozen=True)
class Receipt:
    report_id: str
    code: str


async def seal_attachments(
    sealer: ItemSealer,
    files: list[MediaRef],
    fetch: Fetch,
    first_seq: int,
    written: list[NewItem],
    parent_seq: int | None = None,
) -> list[AttachmentFacts]:
    """Fetch and seal each file, plus a metadata-stripped working copy of each image.

    Sealed items are appended to `written` as they are made, so the caller can discard them
    all if anything later fails.
    """
    facts: list[AttachmentFacts] = []
    seq = first_seq
    for media in files:
        try:
            data = await fetch(media)
        except Exception as error:
            raise AttachmentUnavailable() from error
        written.append(await sealer.seal(seq, ItemRole.ATTACHMENT, data, parent_seq))
        facts.append(AttachmentFacts(
            seq=seq,
            kind=media.kind,
            file_name=media.file_name,
            mime_type=media.mime_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            caption=media.caption,
        ))
        copy = await asyncio.to_thread(stripped_copy, data)
        if copy is not None:
            written.append(await sealer.seal(seq + 1, ItemRole.WORKING_COPY, copy[0], seq))
            seq += 1
        seq += 1
        del data
    return facts


class ReportSubmitter:
    def __init__(
        self,
        storage: Storage,
        keys: ServerKeys,
        conversation: Conversation,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._storage = storage
        self._keys = keys
        self._conversation = conversation
        self._clock = clock

    def submission_key(self, submission_id: str) -> bytes:
        return submission_key(self._keys.hash_key, submission_id)

    async def submit(self, draft: Draft, *, submission_id: str, fetch: Fetch) -> Receipt:
        """Seal, sign and commit `draft`. Raises AlreadySubmitted for a repeated submission."""
        sealer = await ItemSealer.for_active_recipients(self._storage)
        now = self._clock()
        report_id = secrets.token_hex(16)
        written: list[NewItem] = []
        try:
            facts = await seal_attachments(sealer, self._attachments(draft), fetch, 1, written)
            document = report_document(
                report_id=report_id,
                questionnaire=self._conversation.questionnaire,
                language=draft.language,
                answers=self._conversation.visible_answers(draft),
                attachments=facts,
                submitted_at=now,
            )
            written.insert(0, await sealer.seal(0, ItemRole.ANSWERS, document))
            code = new_receipt_code()
            derived = receipt_keys(code, self._keys.hash_key)
            manifest, signature = signed_manifest(
                self._keys.custody_key, report_id, now.date().isoformat(), written
            )
            await self._storage.reports.add(NewReport(
                report_id=report_id,
                received_day=now.date(),
                receipt_hash=derived.lookup_hash,
                submission_key=self.submission_key(submission_id),
                manifest=manifest,
                manifest_signature=signature,
                items=tuple(written),
                witness_recipient=str(derived.witness.recipient),
            ))
        except DuplicateSubmission as duplicate:
            sealer.discard(written)
            raise AlreadySubmitted(duplicate.report_id) from None
        except BaseException:
            sealer.discard(written)
            raise
        # No report id here: a log line pairs it with an exact time, which the store never keeps.
        log.info("report.committed", extra={"items": len(written)})
        return Receipt(report_id=report_id, code=code)

    def _attachments(self, draft: Draft) -> list[MediaRef]:
        return [
            media
            for _question, answer in self._conversation.visible_answers(draft)
            if isinstance(answer, MediaAnswer)
            for media in answer.files
        ]
