"""Submitting a report: seal every part to the reviewers, sign custody, commit, then receipt.

The order is the promise: payload blobs are written and synced, then one database transaction
stores every header; only after it commits does the witness hear "received". A crash before the
commit leaves orphan ciphertext and no acknowledgement; a crash after it loses nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import crypto
from bot.core import AttachmentFacts, Conversation, Draft, MediaAnswer, MediaRef, report_document
from crypto.custody import ManifestEntry, canonical_manifest, sign_manifest
from crypto.receipts import new_receipt_code, receipt_hash, submission_key
from storage import DuplicateSubmission, ItemRole, NewItem, NewReport, Storage
from storage.server_keys import ServerKeys

log = logging.getLogger("intake.submission")

Fetch = Callable[[MediaRef], Awaitable[bytes]]


class NoRecipientsError(Exception):
    """No reviewer recipient is registered, so nothing can be sealed."""

    def __init__(self) -> None:
        super().__init__(
            "no reviewer recipients are registered: run `intake reviewer add --name NAME "
            "--recipient age1...` before accepting reports"
        )


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
        records = await self._storage.recipients.active()
        if not records:
            raise NoRecipientsError()
        recipients = [crypto.parse_recipient(r.recipient) for r in records]
        key_ids = tuple(sorted(r.key_id for r in records))
        now = self._clock()
        report_id = secrets.token_hex(16)
        written: list[NewItem] = []
        try:
            facts: list[AttachmentFacts] = []
            for seq, media in enumerate(self._attachments(draft), start=1):
                try:
                    data = await fetch(media)
                except Exception as error:
                    raise AttachmentUnavailable() from error
                item = await asyncio.to_thread(
                    self._seal_item, seq, ItemRole.ATTACHMENT, data, recipients, key_ids
                )
                written.append(item)
                facts.append(AttachmentFacts(
                    seq=seq,
                    kind=media.kind,
                    file_name=media.file_name,
                    mime_type=media.mime_type,
                    size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                    caption=media.caption,
                ))
                del data
            document = report_document(
                report_id=report_id,
                questionnaire=self._conversation.questionnaire,
                language=draft.language,
                answers=self._conversation.visible_answers(draft),
                attachments=facts,
                submitted_at=now,
            )
            answers = await asyncio.to_thread(
                self._seal_item, 0, ItemRole.ANSWERS, document, recipients, key_ids
            )
            written.insert(0, answers)
            code = new_receipt_code()
            code_hash = await asyncio.to_thread(receipt_hash, code, self._keys.hash_key)
            report = self._report(report_id, now.date(), code_hash, submission_id, written)
            await self._storage.reports.add(report)
        except DuplicateSubmission as duplicate:
            self._discard(written)
            raise AlreadySubmitted(duplicate.report_id) from None
        except BaseException:
            self._discard(written)
            raise
        log.info("report.committed", extra={"report_id": report_id, "items": len(written)})
        return Receipt(report_id=report_id, code=code)

    def _attachments(self, draft: Draft) -> list[MediaRef]:
        return [
            media
            for _question, answer in self._conversation.visible_answers(draft)
            if isinstance(answer, MediaAnswer)
            for media in answer.files
        ]

    def _seal_item(
        self,
        seq: int,
        role: ItemRole,
        data: bytes,
        recipients: Sequence[crypto.Recipient],
        key_ids: tuple[str, ...],
    ) -> NewItem:
        item_id = secrets.token_hex(16)
        with self._storage.blobs.create(item_id) as blob:
            header = crypto.seal(io.BytesIO(data), blob, recipients)
        return NewItem(
            item_id=item_id,
            seq=seq,
            role=role,
            header=header,
            payload_size=blob.size,
            payload_sha256=blob.sha256_hex,
            recipient_key_ids=key_ids,
        )

    def _report(
        self,
        report_id: str,
        day: dt.date,
        code_hash: bytes,
        submission_id: str,
        items: list[NewItem],
    ) -> NewReport:
        manifest = canonical_manifest(
            report_id,
            day.isoformat(),
            [ManifestEntry(i.seq, i.role.value, i.payload_size, i.payload_sha256) for i in items],
        )
        return NewReport(
            report_id=report_id,
            received_day=day,
            receipt_hash=code_hash,
            submission_key=self.submission_key(submission_id),
            manifest=manifest,
            manifest_signature=sign_manifest(self._keys.custody_key, manifest),
            items=tuple(items),
        )

    def _discard(self, items: list[NewItem]) -> None:
        for item in items:
            self._storage.blobs.delete(item.item_id)
