"""ReviewBackend over a local Storage: the data directory itself, or the API server's view of it.

Used by `intake review` on the machine that holds the data, by the web console, and by the
reviewer API (which is a thin HTTP adapter over this class). Every change is checked here and
recorded in the audit trail with the actor's name, the action, the report id and details that
are never content: states, sizes, sequence numbers and key ids.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import BinaryIO, TypeVar

from crypto.custody import custody_public_pem
from review import headers
from review.audit import AuditTrail, report_ref
from review.backend import PRIORITIES, STATUSES, QueueFilter, SealedNote, SealedQuestion
from review.checks import (
    MAX_SEALED_TEXT_BYTES,
    MIN_ID_PREFIX,
    AccessDeniedError,
    BodyTooLargeError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ReviewError,
    check_choice,
    check_filters,
    check_id_prefix,
    check_label,
    check_name,
    check_report_id,
    check_sealed_file,
)
from review.custody.access import (
    BULK_CHUNK,
    Access,
    AccessError,
    access_details,
    bulk_details,
)
from review.custody.chain import report_records
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
from storage.header_swaps import SupersededHeader
from storage.triage import NoteRecord, UnknownReportError

MAX_PAGE_SIZE = 500

T = TypeVar("T")

# Names other modules import from here; they live in review/checks.py.
__all__ = [
    "MAX_SEALED_TEXT_BYTES",
    "MIN_ID_PREFIX",
    "AccessDeniedError",
    "BodyTooLargeError",
    "ConflictError",
    "InvalidRequestError",
    "LocalBackend",
    "NotFoundError",
    "ReviewError",
    "check_name",
    "check_report_id",
]

# Enough ids to show three of an ambiguous prefix and that there are more.
MAX_PREFIX_MATCHES = 4


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class LocalBackend:
    """The ReviewBackend protocol over a Storage, recording every change as `actor`.

    With `channel`, it sees that channel's reports only: every other report is answered exactly
    as one that does not exist (NotFoundError, a 404 in the API), so a reviewer of one channel
    cannot even learn that another channel's report id exists (docs/channels.md).
    """

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
        return [_note(record) for record in records]

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

    async def record_access(self, access: Access) -> None:
        """Record that the actor opened, downloaded (decrypted) or exported these things."""
        try:
            details = access_details(access)
        except AccessError as error:
            raise InvalidRequestError(str(error)) from None
        report = await self.get_report(access.report_id)
        known = {item.seq for item in report.items}
        unknown = sorted(set(access.items) - known)
        if unknown:
            raise NotFoundError(f"report {access.report_id} has no item {unknown[0]}")
        await self._record(f"access.{access.what}", access.report_id, details)

    async def record_bulk_access(
        self, items: Sequence[tuple[str, int]], *, via: str = "console"
    ) -> None:
        """Record many decrypted items (the console's monitoring), a chunk per entry.

        Every report must exist and be this backend's channel's: otherwise someone could put
        entries into another channel's chain of custody. The refusal is the same 404 for both.
        """
        ids = {check_report_id(r) for r, _seq in items}
        channels = await self.storage.reports.channels_of(ids)
        for report_id in sorted(ids):
            if report_id not in channels or not self._sees(channels[report_id]):
                raise NotFoundError(f"no report {report_id}")
        refs = sorted({(report_ref(r), int(s)) for r, s in items})
        for start in range(0, len(refs), BULK_CHUNK):
            try:
                details = bulk_details(refs[start:start + BULK_CHUNK], via)
            except AccessError as error:
                raise InvalidRequestError(str(error)) from None
            await self.audit.record(self.actor, "access.opened.batch", None, details)

    # --- changing ------------------------------------------------------------------------

    async def set_status(self, report_id: str, status: str) -> None:
        check_choice(status, STATUSES, "status")
        triage = self.storage.triage
        previous = await self._guard(report_id, lambda: triage.set_status(report_id, status))
        await self._record("report.status", report_id, {"from": previous, "to": status})

    async def set_priority(self, report_id: str, priority: str) -> None:
        check_choice(priority, PRIORITIES, "priority")
        previous = await self._guard(
            report_id, lambda: self.storage.triage.set_priority(report_id, priority)
        )
        await self._record("report.priority", report_id, {"from": previous, "to": priority})

    async def assign(self, report_id: str, assignee: str | None) -> None:
        if assignee is not None:
            check_name(assignee, "assignee name")
        previous = await self._guard(
            report_id, lambda: self.storage.triage.set_assignee(report_id, assignee)
        )
        await self._record("report.assign", report_id, {"from": previous, "to": assignee})

    async def add_label(self, report_id: str, label: str) -> None:
        check_label(label)
        triage = self.storage.triage
        added = await self._guard(report_id, lambda: triage.add_label(report_id, label))
        # The label text stays out of the trail: the trail outlives retention, and a label can
        # say what a report is about. The report_labels row is shredded with the report.
        await self._record("report.label_add", report_id, {"changed": added})

    async def remove_label(self, report_id: str, label: str) -> None:
        check_label(label)
        triage = self.storage.triage
        removed = await self._guard(report_id, lambda: triage.remove_label(report_id, label))
        await self._record("report.label_remove", report_id, {"changed": removed})

    async def add_note(self, report_id: str, sealed: bytes) -> SealedNote:
        check_report_id(report_id)
        check_sealed_file(sealed, "note")
        note_id = secrets.token_hex(16)
        record = await self._guard(report_id, lambda: self.storage.triage.add_note(
            report_id, note_id, self.actor, self._today(), sealed
        ))
        await self._record("note.add", report_id, {"note_id": note_id, "size": len(sealed)})
        return _note(record)

    async def leave_witness_message(self, report_id: str, sealed: bytes) -> None:
        report = await self.get_report(report_id)
        if report.witness_recipient is None:
            raise InvalidRequestError(
                "this report has no witness recipient (it was submitted before follow-up "
                "questions existed), so the witness could not read a message"
            )
        check_sealed_file(sealed, "message for the witness")
        message_id = secrets.token_hex(16)
        await self._guard(report_id, lambda: self.storage.triage.add_witness_message(
            report_id, message_id, self._today(), sealed
        ))
        await self._record(
            "witness_message.add", report_id, {"message_id": message_id, "size": len(sealed)}
        )

    async def replace_header(
        self, report_id: str, seq: int, expected_old_sha256: str, new_header: bytes,
        recipient_key_ids: tuple[str, ...],
    ) -> None:
        """Swap an item's header, keeping the old one (review/headers.py)."""
        await headers.replace_header(
            self, report_id, seq, expected_old_sha256, new_header, recipient_key_ids
        )

    async def header_history(self, report_id: str, seq: int) -> list[SupersededHeader]:
        return await headers.header_history(self, report_id, seq)

    async def restore_header(
        self, report_id: str, seq: int, expected_old_sha256: str, version: int | None = None
    ) -> SupersededHeader:
        """Put a superseded header back; without `version` the last one (undo)."""
        return await headers.restore_header(self, report_id, seq, expected_old_sha256, version)

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

    async def _guard(self, report_id: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a repository call on a checked report id, turning 'no such report' (or one of
        another channel) into a 404."""
        await self._check_scope(report_id)
        try:
            return await operation()
        except UnknownReportError:
            raise NotFoundError(f"no report {report_id}") from None

    async def _record(self, action: str, report_id: str, details: dict[str, object]) -> None:
        await self.audit.record(self.actor, action, report_id, details)


def _note(record: NoteRecord) -> SealedNote:
    return SealedNote(
        note_id=record.note_id,
        report_id=record.report_id,
        author=record.author,
        created_on=record.created_on,
        sealed=record.sealed,
    )
