"""Submitting a report: seal every part to the reviewers, sign custody, commit, then receipt.

The order is the promise: payload blobs are written and synced, then one database transaction
stores every header; only after it commits does the witness hear "received". A crash before the
commit leaves orphan ciphertext and no acknowledgement; a crash after it loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import logging
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from bot.core import AttachmentFacts, Conversation, Draft, MediaAnswer, MediaRef, report_document
from bot.core.channels import ChannelConversations
from bot.sealing import ItemSealer, NoRecipientsError, WorkSlots, signed_manifest
from bot.working_copy import MAX_IMAGE_BYTES, may_get_copy, working_copy
from crypto.receipts import new_receipt_code, receipt_keys, submission_key
from storage import BlobStore, DuplicateSubmission, ItemRole, NewItem, NewReport, Storage
from storage.server_keys import ServerKeys

__all__ = [
    "AlreadySubmitted",
    "AttachmentUnavailable",
    "Fetch",
    "NoRecipientsError",
    "PreparedReport",
    "Receipt",
    "ReportSubmitter",
    "WorkSlots",
    "fetch_from_memory",
]

log = logging.getLogger("intake.submission")


def _software() -> dict[str, str]:
    try:
        version = importlib.metadata.version("incident-intake")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown (not installed as a package)"
    return {"name": "incident-intake", "version": version}


# What each report records as the software that took it (its collection report).
SOFTWARE = _software()

# Fetching an attachment: an async generator of its bytes in chunks, as they arrive. Callers
# close it (`contextlib.aclosing`) so a download stopped early never outlives its use.
Fetch = Callable[[MediaRef], AsyncGenerator[bytes, None]]

_HEAD_SIZE = 12  # enough to recognise the image formats that get a working copy


class AttachmentUnavailable(Exception):
    """An attachment could not be fetched from Telegram (expired, too big, network).

    `reason` is a short token-free word for the log (`http_404`, `too_large`, `ReadTimeout`);
    the message never quotes a URL, since the Bot API's file URLs contain the bot token.
    """

    def __init__(self, reason: str = "unavailable") -> None:
        super().__init__(f"an attachment could not be fetched ({reason})")
        self.reason = reason


class AlreadySubmitted(Exception):
    def __init__(self, report_id: str) -> None:
        super().__init__("this submission was already stored")
        self.report_id = report_id


@dataclass(frozen=True)
class Receipt:
    report_id: str
    code: str = field(repr=False)


@dataclass
class PreparedReport:
    """A report sealed, its payloads written and synced and its manifest signed, not stored.

    The caller commits `report` (in its own transaction) or calls `discard()`, which deletes
    the payload blobs; until one of them, the blobs are orphans a sweep would remove.
    """

    report: NewReport
    receipt: Receipt = field(repr=False)
    items: list[NewItem]
    _blobs: BlobStore = field(repr=False)

    def discard(self) -> None:
        for item in self.items:
            self._blobs.delete(item.item_id)


def fetch_from_memory(files: Mapping[str, bytes], chunk_size: int = 64 * 1024) -> Fetch:
    """A Fetch over bytes already in memory, keyed by MediaRef.handle (the demo, tests)."""

    async def fetch(media: MediaRef) -> AsyncGenerator[bytes, None]:
        data = files[media.handle]
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    return fetch


class _Plaintext:
    """Watches a file's bytes on their way to the sealer: size, SHA-256, and an image kept.

    The bytes are kept only if the file starts like an image that gets a working copy, and
    only while it is no larger than MAX_IMAGE_BYTES; everything else just streams past.
    """

    def __init__(self) -> None:
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._kept: bytearray | None = bytearray()
        self._decided = False

    async def watch(self, chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in chunks:
                self._see(chunk)
                yield chunk
        except AttachmentUnavailable:
            raise
        except Exception as error:
            # A Fetch other than the Telegram one (which raises token-free errors itself).
            raise AttachmentUnavailable(type(error).__name__) from error
        self._decided = True
        if self._kept is not None and not may_get_copy(bytes(self._kept[:_HEAD_SIZE])):
            self._kept = None

    def _see(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._sha256.update(chunk)
        if self._kept is None:
            return
        self._kept += chunk
        if not self._decided and len(self._kept) >= _HEAD_SIZE:
            self._decided = True
            if not may_get_copy(bytes(self._kept[:_HEAD_SIZE])):
                self._kept = None
                return
        if len(self._kept) > MAX_IMAGE_BYTES:
            log.info("working_copy.too_large")
            self._kept = None

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def image(self) -> bytes | None:
        """The whole file, if it was kept for a working copy; once."""
        kept, self._kept = self._kept, None
        return bytes(kept) if kept else None


async def seal_attachments(
    sealer: ItemSealer,
    files: list[MediaRef],
    fetch: Fetch,
    first_seq: int,
    written: list[NewItem],
    parent_seq: int | None = None,
    *,
    slots: WorkSlots,
) -> list[AttachmentFacts]:
    """Fetch and seal each file as it streams, plus a metadata-stripped copy of each image.

    Sealed items are appended to `written` as they are made, so the caller can discard them
    all if anything later fails. A file that fails half-way leaves no blob behind.
    """
    facts: list[AttachmentFacts] = []
    seq = first_seq
    for media in files:
        plaintext = _Plaintext()
        async with slots.file():
            async with contextlib.aclosing(fetch(media)) as chunks:
                watched = plaintext.watch(chunks)
                async with contextlib.aclosing(watched):
                    original = await sealer.seal_stream(
                        seq, ItemRole.ATTACHMENT, watched, parent_seq
                    )
            written.append(original)
            image = plaintext.image()
            copy = None
            if image is not None:
                async with slots.image():
                    copy = await asyncio.to_thread(working_copy, image)
                del image
            has_copy = copy is not None
            processing = None
            if copy is not None:
                written.append(await sealer.seal(seq + 1, ItemRole.WORKING_COPY, copy.data, seq))
                processing = {"working_copy_item": seq + 1, **copy.record}
                del copy
        facts.append(AttachmentFacts(
            seq=seq,
            kind=media.kind,
            file_name=media.file_name,
            mime_type=media.mime_type,
            size=plaintext.size,
            sha256=plaintext.sha256,
            caption=media.caption,
            processing=processing,
        ))
        seq += 2 if has_copy else 1
    return facts


class ReportSubmitter:
    def __init__(
        self,
        storage: Storage,
        keys: ServerKeys,
        conversation: Conversation | ChannelConversations,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        slots: WorkSlots | None = None,
    ) -> None:
        self._storage = storage
        self._keys = keys
        self._conversation = conversation
        self._clock = clock
        # Shared with FollowUpService in a running bot, so the limit is for the whole process.
        self.slots = slots or WorkSlots()

    def submission_key(self, submission_id: str) -> bytes:
        return submission_key(self._keys.hash_key, submission_id)

    async def prepare(self, draft: Draft, *, submission_id: str, fetch: Fetch) -> PreparedReport:
        """Seal every part of `draft`, write and sync its payloads and sign its manifest.

        Nothing is committed: the caller stores `report` in its own transaction, or discards.
        If this raises, whatever it wrote is already deleted.
        """
        sealer = await ItemSealer.for_active_recipients(self._storage, draft.channel)
        conversation = self._conversation_of(draft)
        now = self._clock()
        report_id = secrets.token_hex(16)
        written: list[NewItem] = []
        try:
            facts = await seal_attachments(
                sealer, self._attachments(draft), fetch, 1, written, slots=self.slots
            )
            document = report_document(
                report_id=report_id,
                questionnaire=conversation.questionnaire,
                language=draft.language,
                answers=conversation.visible_answers(draft),
                attachments=facts,
                submitted_at=now,
                software=SOFTWARE,
                channel=draft.channel,
            )
            written.insert(0, await sealer.seal(0, ItemRole.ANSWERS, document))
            code = new_receipt_code()
            derived = receipt_keys(code, self._keys.hash_key)
            manifest, signature = signed_manifest(
                self._keys.custody_key, report_id, now.date().isoformat(), written
            )
        except BaseException:
            sealer.discard(written)
            raise
        report = NewReport(
            report_id=report_id,
            received_day=now.date(),
            receipt_hash=derived.lookup_hash,
            submission_key=self.submission_key(submission_id),
            manifest=manifest,
            manifest_signature=signature,
            items=tuple(written),
            witness_recipient=str(derived.witness.recipient),
            channel=draft.channel,
        )
        return PreparedReport(report, Receipt(report_id, code), written, sealer.blobs)

    async def submit(self, draft: Draft, *, submission_id: str, fetch: Fetch) -> Receipt:
        """Seal, sign and commit `draft`. Raises AlreadySubmitted for a repeated submission."""
        prepared = await self.prepare(draft, submission_id=submission_id, fetch=fetch)
        try:
            await self._storage.reports.add(prepared.report)
        except DuplicateSubmission as duplicate:
            prepared.discard()
            raise AlreadySubmitted(duplicate.report_id) from None
        except BaseException:
            prepared.discard()
            raise
        # No report id here: a log line pairs it with an exact time, which the store never keeps.
        log.info("report.committed")  # no item count: it would match the report to its chat
        return prepared.receipt

    def _attachments(self, draft: Draft) -> list[MediaRef]:
        return [
            media
            for _question, answer in self._conversation_of(draft).visible_answers(draft)
            if isinstance(answer, MediaAnswer)
            for media in answer.files
        ]

    def _conversation_of(self, draft: Draft) -> Conversation:
        """The conversation of the draft's channel: its questionnaire is the report's."""
        if isinstance(self._conversation, ChannelConversations):
            return self._conversation.of(draft)
        return self._conversation
