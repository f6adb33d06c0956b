"""Reading the store as a reviewer: LocalBackend's reads (review/local.py), and the channel
scope every read and change goes through.

A backend with a channel sees that channel's reports only, any other answered as one that does
not exist (LocalBackend; docs/channels.md). Reading changes nothing, with one exception: where
ciphertext leaves the store (`record_downloads`), each payload handed out is an
`access.downloaded` entry of the audit trail.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import BinaryIO

from crypto.custody import custody_public_pem
from review.audit import AuditTrail, report_ref
from review.backend import QueueFilter, SealedNote, SealedQuestion
from review.checks import (
    InvalidRequestError,
    NotFoundError,
    check_filters,
    check_id_prefix,
    check_report_id,
)
from review.custody.access import Access, access_details
from review.custody.chain import CustodyChain, read_custody_chain, report_records
from storage import (
    InvalidCursorError,
    QueuePage,
    RecipientRecord,
    ReportSummary,
    Storage,
    StoredItem,
    StoredReport,
)
from storage.audit import AuditRecord
from storage.triage import NoteRecord, UnknownReportError

MAX_PAGE_SIZE = 500

# Enough ids to show three of an ambiguous prefix and that there are more.
MAX_PREFIX_MATCHES = 4


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class LocalReader:
    """What a reviewer reads of a Storage, within `channel` when one is given; LocalBackend
    adds the changes, each recorded in the audit trail as `actor`."""

    def __init__(
        self,
        storage: Storage,
        audit: AuditTrail,
        actor: str,
        *,
        custody_key: bytes | None = None,
        today: Callable[[], dt.date] = _today,
        record_downloads: str | None = None,
        channel: str | None = None,
    ) -> None:
        self.storage = storage
        self.audit = audit
        self.actor = actor
        self.channel = channel
        self._custody_key = custody_key
        self._today = today
        # Set ("api" or "cli") where ciphertext leaves the store (the reviewer API, `review
        # pull`): each payload handed out is then an `access.downloaded` entry of the trail.
        self.record_downloads = record_downloads

    # --- reading -------------------------------------------------------------------------

    async def list_reports(
        self, filters: QueueFilter, *, page: int = 1, page_size: int = 50
    ) -> list[ReportSummary]:
        if page < 1:
            raise InvalidRequestError("page numbers start at 1")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidRequestError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        check_filters(filters)
        return await self.storage.queue.page_at_offset(
            self._scoped(filters), offset=(page - 1) * page_size, limit=page_size
        )

    async def queue_page(
        self,
        filters: QueueFilter,
        *,
        cursor: str | None = None,
        page_size: int = 50,
        with_total: bool = False,
    ) -> QueuePage:
        """A keyset page of the queue after `cursor`; its cost does not grow with the queue."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidRequestError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        check_filters(filters)
        try:
            return await self.storage.queue.page(
                self._scoped(filters), cursor=cursor, limit=page_size, with_total=with_total
            )
        except InvalidCursorError as error:
            raise InvalidRequestError(str(error)) from None

    async def report_ids_with_prefix(self, prefix: str) -> list[str]:
        """Up to MAX_PREFIX_MATCHES ids starting with `prefix`: one index range, any queue."""
        return await self.storage.queue.ids_with_prefix(
            check_id_prefix(prefix), MAX_PREFIX_MATCHES, channel=self.channel
        )

    async def get_report(self, report_id: str) -> StoredReport:
        report = await self.storage.reports.get(check_report_id(report_id))
        if report is None or not self._sees(report.summary.channel):
            raise NotFoundError(f"no report {report_id}")
        # The summary from the reports repository carries no labels; the queue's does.
        labels = await self._labels(report_id)
        return StoredReport(
            summary=dataclasses.replace(report.summary, labels=labels),
            manifest=report.manifest,
            manifest_signature=report.manifest_signature,
            items=report.items,
            witness_recipient=report.witness_recipient,
        )

    async def item(self, report_id: str, seq: int) -> StoredItem:
        report = await self.get_report(report_id)
        for item in report.items:
            if item.seq == seq:
                return item
        raise NotFoundError(f"report {report_id} has no item {seq}")

    async def open_payload(self, report_id: str, seq: int) -> tuple[StoredItem, BinaryIO]:
        """The item and its payload blob opened for reading (for streaming; caller closes)."""
        item = await self.item(report_id, seq)
        try:
            handle = self.storage.blobs.open(item.item_id)
        except FileNotFoundError:
            raise NotFoundError(f"the payload of item {seq} of {report_id} is gone") from None
        if self.record_downloads is not None:
            try:
                await self._record("access.downloaded", report_id, access_details(
                    Access(report_id, "downloaded", items=[seq], via=self.record_downloads),
                    decrypted=False,
                ))
            except BaseException:
                handle.close()
                raise
        return item, handle

    async def read_payload(self, report_id: str, seq: int) -> bytes:
        _item, handle = await self.open_payload(report_id, seq)
        with handle:
            return await asyncio.to_thread(handle.read)

    async def notes(self, report_id: str) -> list[SealedNote]:
        await self._check_scope(report_id)
        try:
            records = await self.storage.triage.notes(check_report_id(report_id))
        except UnknownReportError:
            raise NotFoundError(f"no report {report_id}") from None
        return [sealed_note(record) for record in records]

    async def witness_messages(self, report_id: str) -> list[SealedQuestion]:
        """The questions left for the witness, oldest day first (sealed; only days in clear)."""
        await self._check_scope(report_id)
        try:
            records = await self.storage.triage.witness_messages(check_report_id(report_id))
        except UnknownReportError:
            raise NotFoundError(f"no report {report_id}") from None
        return [SealedQuestion(r.message_id, r.report_id, r.created_on, r.sealed) for r in records]

    async def recipients(self) -> list[RecipientRecord]:
        """Every active recipient (of this backend's channel, when it has one), the recovery key
        included, so notes survive a lost laptop."""
        return await self.storage.recipients.active(self.channel)

    async def custody_public_pem(self) -> bytes:
        if self._custody_key is None:
            raise NotFoundError("the server's custody key is not available to this backend")
        return custody_public_pem(self._custody_key)

    async def custody_records(self, report_id: str) -> list[AuditRecord]:
        """The audit records about this report, in trail order (its chain of custody), read
        through the trail's index by report; concerns() still decides each entry read."""
        await self.get_report(report_id)
        about = await self.storage.audit.entries_about(bytes.fromhex(report_ref(report_id)))
        return report_records(about, report_id)

    async def custody_chain(self, report_id: str) -> CustodyChain:
        """The report's own chain of custody, with the audit entries from before it."""
        await self.get_report(report_id)
        return await read_custody_chain(self.storage.audit, report_id)

    # --- helpers -------------------------------------------------------------------------

    async def _labels(self, report_id: str) -> tuple[str, ...]:
        try:
            return await self.storage.triage.labels(report_id)
        except UnknownReportError:
            raise NotFoundError(f"no report {report_id}") from None

    def _sees(self, channel: str) -> bool:
        return self.channel is None or channel == self.channel

    def _scoped(self, filters: QueueFilter) -> QueueFilter:
        """The filters, narrowed to this backend's channel."""
        if self.channel is None:
            return filters
        return dataclasses.replace(filters, channel=self.channel)

    async def _check_scope(self, report_id: str) -> None:
        """NotFoundError for a report of another channel, worded as for one that never was."""
        check_report_id(report_id)
        if self.channel is None:
            return
        if await self.storage.reports.channel_of(report_id) != self.channel:
            raise NotFoundError(f"no report {report_id}")

    async def _record(self, action: str, report_id: str, details: dict[str, object]) -> None:
        await self.audit.record(self.actor, action, report_id, details)


def sealed_note(record: NoteRecord) -> SealedNote:
    return SealedNote(
        note_id=record.note_id,
        report_id=record.report_id,
        author=record.author,
        created_on=record.created_on,
        sealed=record.sealed,
    )
