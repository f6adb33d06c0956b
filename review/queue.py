"""The queue on this machine's data directory: list, open (decrypting locally), pull.

Thin wrappers that read the store directly and hand over to review.tools, which does the same
work for any backend, local or remote.
"""

from __future__ import annotations

from pathlib import Path

import crypto
from review import tools
from review.backend import QueueFilter
from review.opened import OpenedAttachment, OpenedReport, item_file_name
from storage import QueuePage, ReportSummary, Storage, StoredReport

__all__ = [
    "OpenedAttachment",
    "OpenedReport",
    "ReportNotFound",
    "item_file_name",
    "list_reports",
    "open_report",
    "pull",
]


class ReportNotFound(Exception):
    pass


class StoreReader:
    """Read-only access to sealed reports in a local store (nothing to audit: nothing changes)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def list_reports(
        self, filters: QueueFilter, *, page: int = 1, page_size: int = 50
    ) -> list[ReportSummary]:
        return await self._storage.queue.page_at_offset(
            filters, offset=(page - 1) * page_size, limit=page_size
        )

    async def queue_page(
        self,
        filters: QueueFilter,
        *,
        cursor: str | None = None,
        page_size: int = 50,
        with_total: bool = False,
    ) -> QueuePage:
        return await self._storage.queue.page(
            filters, cursor=cursor, limit=page_size, with_total=with_total
        )

    async def get_report(self, report_id: str) -> StoredReport:
        report = await self._storage.reports.get(report_id)
        if report is None:
            raise ReportNotFound(report_id)
        return report

    async def read_payload(self, report_id: str, seq: int) -> bytes:
        report = await self.get_report(report_id)
        item = next((i for i in report.items if i.seq == seq), None)
        if item is None:
            raise ReportNotFound(report_id)
        with self._storage.blobs.open(item.item_id) as payload:
            return payload.read()


async def list_reports(storage: Storage, *, status: str | None = None) -> list[ReportSummary]:
    """The whole queue (or one status of it) in memory: for demos and small stores."""
    return [s async for s in storage.queue.walk(QueueFilter(status=status))]


async def open_report(
    storage: Storage,
    report_id: str,
    identities: list[crypto.Identity],
    custody_public: bytes | None = None,
) -> OpenedReport:
    """Decrypt a report with the reviewer's identities (crypto.DecryptionError if none fits)."""
    return await tools.open_report(StoreReader(storage), report_id, identities, custody_public)


async def pull(storage: Storage, out_dir: Path) -> tuple[int, int]:
    """Every report as standard age files, DIR/<id>/NN-role.age; see review.tools.pull."""
    return await tools.pull(StoreReader(storage), out_dir)
