"""ReviewBackend over a local Storage: the data directory itself, or the API server's view of it.

Used by `intake review` on the machine that holds the data, by the web console, and by the
reviewer API (which is a thin HTTP adapter over this class). Every change is checked here and
recorded in the audit trail with the actor's name, the action, the report id and details that
are never content: states, sizes, sequence numbers and key ids. The reads, and the channel
scope that every read and change goes through, are in review/local_reading.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from review import headers
from review.audit import report_ref
from review.backend import PRIORITIES, STATUSES, SealedNote
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
    bulk_per_report,
    transfer_details,
)
from review.local_reading import LocalReader, sealed_note
from storage.header_swaps import SupersededHeader
from storage.triage import UnknownReportError

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


class LocalBackend(LocalReader):
    """The ReviewBackend protocol over a Storage, recording every change as `actor`.

    With `channel`, it sees that channel's reports only: every other report is answered exactly
    as one that does not exist (NotFoundError, a 404 in the API), so a reviewer of one channel
    cannot even learn that another channel's report id exists (docs/channels.md).
    """

    # --- recording access ----------------------------------------------------------------

    async def record_transfer(self, report_id: str, to: str, bundle_sha256: str) -> None:
        """Record that the actor handed an exported bundle of the report to `to`."""
        await self.get_report(report_id)
        try:
            details = transfer_details(to, bundle_sha256)
        except AccessError as error:
            raise InvalidRequestError(str(error)) from None
        await self._record("access.transferred", report_id, details)

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
        # One channel per entry: a batch names nothing of another channel's reports. Each
        # report's own chain gets its own items only (review/custody/entries.py).
        by_channel: dict[str, list[tuple[str, int]]] = {}
        for r, s in sorted({(r, int(s)) for r, s in items}):
            by_channel.setdefault(channels[r], []).append((r, s))
        for listed in by_channel.values():
            for start in range(0, len(listed), BULK_CHUNK):
                chunk = listed[start:start + BULK_CHUNK]
                try:
                    details = bulk_details([(report_ref(r), s) for r, s in chunk], via)
                except AccessError as error:
                    raise InvalidRequestError(str(error)) from None
                await self.audit.record(
                    self.actor, "access.opened.batch", None, details,
                    per_report=bulk_per_report(chunk, via),
                )

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
        return sealed_note(record)

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

    async def _guard(self, report_id: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a repository call on a checked report id, turning 'no such report' (or one of
        another channel) into a 404."""
        await self._check_scope(report_id)
        try:
            return await operation()
        except UnknownReportError:
            raise NotFoundError(f"no report {report_id}") from None
