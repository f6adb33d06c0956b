"""What the reviewer tools need from the server, whether it is local or remote.

`intake review ...`, the web console and the key rotation tools are written against this
protocol. Two implementations: one over a local data directory (the reviewer works on the
machine that holds the data) and one over the reviewer API (`--server URL`). Both move only
ciphertext and allowlisted metadata; decryption happens in the caller, with the caller's key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from storage import QueueFilters, QueuePage, RecipientRecord, ReportSummary, StoredReport

STATUSES = ("new", "triaged", "in_progress", "needs_info", "closed", "rejected")
PRIORITIES = ("low", "normal", "high", "urgent")


# The queue's filters (status, priority, assignee, label, received_day), combined with AND.
QueueFilter = QueueFilters


@dataclass(frozen=True)
class SealedNote:
    note_id: str
    report_id: str
    author: str
    created_on: dt.date
    sealed: bytes  # a whole age file, sealed to every active reviewer


@dataclass(frozen=True)
class SealedQuestion:
    """A reviewers' question for the witness: an age file sealed to the witness's key (and,
    since questions are also sealed to them, to the reviewers'); only its day is in clear."""

    message_id: str
    report_id: str
    created_on: dt.date
    sealed: bytes


class SealedReader(Protocol):
    """The reading part of a backend: all that opening and pulling need."""

    async def list_reports(
        self, filters: QueueFilter, *, page: int = 1, page_size: int = 50
    ) -> list[ReportSummary]: ...

    async def queue_page(
        self,
        filters: QueueFilter,
        *,
        cursor: str | None = None,
        page_size: int = 50,
        with_total: bool = False,
    ) -> QueuePage: ...

    async def get_report(self, report_id: str) -> StoredReport: ...

    async def read_payload(self, report_id: str, seq: int) -> bytes: ...


class ReviewBackend(SealedReader, Protocol):
    """The reviewer side's view of the server. `actor` is who every change is recorded as."""

    actor: str

    async def set_status(self, report_id: str, status: str) -> None: ...

    async def set_priority(self, report_id: str, priority: str) -> None: ...

    async def assign(self, report_id: str, assignee: str | None) -> None: ...

    async def add_label(self, report_id: str, label: str) -> None: ...

    async def remove_label(self, report_id: str, label: str) -> None: ...

    async def add_note(self, report_id: str, sealed: bytes) -> SealedNote: ...

    async def notes(self, report_id: str) -> list[SealedNote]: ...

    async def leave_witness_message(self, report_id: str, sealed: bytes) -> None: ...

    async def witness_messages(self, report_id: str) -> list[SealedQuestion]: ...

    async def recipients(self) -> list[RecipientRecord]: ...

    async def replace_header(
        self, report_id: str, seq: int, expected_old_sha256: str, new_header: bytes,
        recipient_key_ids: tuple[str, ...],
    ) -> None: ...
