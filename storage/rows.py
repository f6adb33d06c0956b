"""Rows to records and back: how every repository builds and reads report and item rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import DEFAULT_CHANNEL, ItemRecipientRow, ItemRole, ItemRow, ReportRow
from storage.records import NewItem, NewReport, ReportSummary, StoredItem


def item_row(item: NewItem, report_id: str | None = None) -> ItemRow:
    """The row for a new sealed item (report_id given when adding to an existing report)."""
    row = ItemRow(
        id=item.item_id,
        seq=item.seq,
        role=item.role.value,
        header=item.header,
        payload_size=item.payload_size,
        payload_sha256=item.payload_sha256,
        parent_seq=item.parent_seq,
        recipients=[ItemRecipientRow(key_id=k) for k in item.recipient_key_ids],
    )
    if report_id is not None:
        row.report_id = report_id
    return row


def report_row(report: NewReport) -> ReportRow:
    """The row of a new report, with its items, as every path that stores one builds it."""
    row = ReportRow(
        id=report.report_id,
        received_day=report.received_day,
        status="new",
        priority="normal",
        receipt_hash=report.receipt_hash,
        submission_key=report.submission_key,
        manifest=report.manifest,
        manifest_signature=report.manifest_signature,
        witness_recipient=report.witness_recipient,
        items=[item_row(item) for item in report.items],
    )
    if report.channel != DEFAULT_CHANNEL:
        # The default is the database's (server_default), as for rows stored before channels.
        row.channel = report.channel
    return row


def stored_item(row: ItemRow) -> StoredItem:
    return StoredItem(
        item_id=row.id,
        seq=row.seq,
        role=ItemRole(row.role),
        header=row.header,
        payload_size=row.payload_size,
        payload_sha256=row.payload_sha256,
        recipient_key_ids=tuple(r.key_id for r in row.recipients),
        parent_seq=row.parent_seq,
    )


def rowcount(result: Result[Any]) -> int:
    # UPDATE and DELETE results are cursor results, which know how many rows matched.
    return cast(CursorResult[Any], result).rowcount


async def release_freed_space(
    sessions: async_sessionmaker[AsyncSession], tables: Sequence[str]
) -> None:
    """Push rows deleted from `tables` out of the database files where the database lets us.

    SQLite (secure_delete is on) zeroes them in the database file but keeps older page images
    in the write-ahead log until a checkpoint, which this forces and truncates. PostgreSQL
    keeps them as dead tuples until VACUUM, which this runs on `tables`; the space is then
    reused, not wiped, and WAL archives and backups keep their copies.
    """
    async with sessions() as session:
        connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        if connection.dialect.name == "sqlite":
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif connection.dialect.name == "postgresql":
            await connection.exec_driver_sql(f"VACUUM {', '.join(tables)}")


def report_summary(row: ReportRow, item_count: int) -> ReportSummary:
    return ReportSummary(
        report_id=row.id,
        received_day=row.received_day,
        status=row.status,
        priority=row.priority,
        assignee=row.assignee,
        item_count=item_count,
        channel=row.channel,
    )
