"""Repositories: the only code that speaks SQL. They take and return plain records."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload, undefer

from storage.models import (
    DEFAULT_CHANNEL,
    ItemRecipientRow,
    ItemRole,
    ItemRow,
    RecipientKind,
    RecipientRow,
    ReportRow,
)
from storage.records import (
    NewItem,
    NewReport,
    RecipientRecord,
    ReportSummary,
    StoredItem,
    StoredReport,
)
from storage.scope import reports_of, rows_of


class DuplicateSubmission(Exception):
    """The submission key is already stored: this update was processed before."""

    def __init__(self, report_id: str) -> None:
        super().__init__("this submission was already stored")
        self.report_id = report_id


class RecipientExistsError(Exception):
    pass


class UnknownRecipientError(Exception):
    pass


class ItemNotFoundError(LookupError):
    """No item at this report and sequence number: it never existed, or it was shredded."""


class HeaderConflictError(ValueError):
    """The stored item (or custody manifest) is not the one the caller read: someone changed it
    first. Nothing was written; read the item again and redo the step."""


@dataclass(frozen=True)
class HeaderReplacement:
    """Swap one item's header, if it is still the header whose SHA-256 the caller read."""

    report_id: str
    seq: int
    expected_old_sha256: str
    new_header: bytes
    recipient_key_ids: tuple[str, ...]


@dataclass(frozen=True)
class PayloadReplacement:
    """Swap one item for a re-encrypted copy and the report's custody manifest with it.

    `new_item.item_id` is a new random id: the id is the blob's file name, so the new payload
    lives next to the old one until this swap commits and the old blob can be deleted.
    """

    report_id: str
    seq: int
    expected_item_id: str
    expected_header_sha256: str
    new_item: NewItem
    expected_manifest: bytes
    new_manifest: bytes
    new_manifest_signature: bytes


@dataclass(frozen=True)
class ItemRef:
    report_id: str
    seq: int
    item_id: str


@dataclass(frozen=True)
class ShreddedReport:
    report_id: str
    status: str
    # Blob names of the payloads, to delete now that no header can open them any more.
    item_ids: tuple[str, ...]


def header_sha256(header: bytes) -> str:
    return hashlib.sha256(header).hexdigest()


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


class ReportRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, report: NewReport) -> None:
        """Store a report and all its item headers in one transaction.

        Raises DuplicateSubmission when the same submission was stored before, so a redelivered
        update never creates a second report.
        """
        try:
            async with self._sessions.begin() as session:
                session.add(report_row(report))
        except IntegrityError:
            existing = await self.find_by_submission_key(report.submission_key)
            if existing is None:
                raise
            raise DuplicateSubmission(existing) from None

    async def find_by_submission_key(self, submission_key: bytes) -> str | None:
        async with self._sessions() as session:
            found = await session.scalar(
                select(ReportRow.id).where(ReportRow.submission_key == submission_key)
            )
            return found

    async def find_by_receipt_hash(self, receipt_hash: bytes) -> str | None:
        async with self._sessions() as session:
            found = await session.scalar(
                select(ReportRow.id).where(ReportRow.receipt_hash == receipt_hash)
            )
            return found

    async def has_receipt_hashes_of_length(self, length: int) -> bool:
        """Whether any report's receipt hash has this many bytes (tells hashing schemes apart:
        the bot's legacy scrypt hashes are 32 bytes, its current ones carry a marker byte)."""
        async with self._sessions() as session:
            found = await session.scalar(
                select(ReportRow.id).where(func.length(ReportRow.receipt_hash) == length).limit(1)
            )
        return found is not None

    async def get(self, report_id: str) -> StoredReport | None:
        query = (
            select(ReportRow)
            .where(ReportRow.id == report_id)
            .options(
                undefer(ReportRow.channel),
                selectinload(ReportRow.items).selectinload(ItemRow.recipients),
            )
        )
        async with self._sessions() as session:
            row = await session.scalar(query)
        if row is None:
            return None
        return StoredReport(
            summary=_summary(row, len(row.items)),
            manifest=row.manifest,
            manifest_signature=row.manifest_signature,
            witness_recipient=row.witness_recipient,
            items=tuple(_stored_item(item) for item in row.items),
        )

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(ReportRow.id))) or 0)

    async def channel_of(self, report_id: str) -> str | None:
        """The channel a report came through; None when there is no such report."""
        async with self._sessions() as session:
            found: str | None = await session.scalar(
                select(ReportRow.channel).where(ReportRow.id == report_id)
            )
        return found

    async def channels_of(self, report_ids: Collection[str]) -> dict[str, str]:
        """The channel of each of these reports that exists (absent ones are left out)."""
        ids = sorted(set(report_ids))
        found: dict[str, str] = {}
        async with self._sessions() as session:
            for start in range(0, len(ids), 500):
                rows = await session.execute(
                    select(ReportRow.id, ReportRow.channel)
                    .where(ReportRow.id.in_(ids[start:start + 500]))
                )
                found.update({report_id: channel for report_id, channel in rows})
        return found

    async def ids_in_channel(self, channel: str) -> list[str]:
        """Every report id of one channel (for work scoped to it: rewrap, retention)."""
        async with self._sessions() as session:
            found = await session.scalars(
                select(ReportRow.id).where(ReportRow.channel == channel).order_by(ReportRow.id)
            )
            return list(found)

    # --- key rotation: re-wrapping headers, re-encrypting payloads -------------------------

    async def items_for_rewrap(
        self, target_key_ids: Collection[str], *, after: str = "", limit: int = 500,
        channel: str | None = None,
    ) -> list[tuple[str, StoredItem]]:
        """One page of (report id, item) whose header is not wrapped to exactly these key ids.

        Pages are ordered by item id; pass the last item id of a page as `after` for the next.
        Items re-wrapped in between drop out of the selection, so a loop over pages ends, and
        one that is interrupted simply starts again with what is left.
        """
        query = (
            select(ItemRow)
            .where(_not_wrapped_exactly_to(target_key_ids), ItemRow.id > after)
            .where(*rows_of(ItemRow.report_id, channel))
            .order_by(ItemRow.id)
            .limit(limit)
            .options(selectinload(ItemRow.recipients))
        )
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [(row.report_id, _stored_item(row)) for row in rows]

    async def count_items_for_rewrap(
        self, target_key_ids: Collection[str], *, channel: str | None = None
    ) -> int:
        query = select(func.count(ItemRow.id)).where(
            _not_wrapped_exactly_to(target_key_ids), *rows_of(ItemRow.report_id, channel)
        )
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)

    async def replace_header(
        self,
        report_id: str,
        seq: int,
        expected_old_sha256: str,
        new_header: bytes,
        recipient_key_ids: tuple[str, ...],
    ) -> None:
        """Compare-and-swap one item's header and its recipient key ids.

        Raises ItemNotFoundError if the item is gone, HeaderConflictError if its header is no
        longer the one whose SHA-256 is `expected_old_sha256`; nothing is written then.
        """
        replacement = HeaderReplacement(
            report_id, seq, expected_old_sha256, new_header, recipient_key_ids
        )
        async with self._sessions.begin() as session:
            (outcome,) = await _swap_headers(session, [replacement])
        if outcome == "missing":
            raise ItemNotFoundError(f"report {report_id} has no item {seq}")
        if outcome == "changed":
            raise HeaderConflictError(
                f"the header of item {seq} of report {report_id} is not the one expected"
            )

    async def replace_headers(
        self, replacements: Sequence[HeaderReplacement]
    ) -> list[HeaderReplacement]:
        """`replace_header` for many items in one transaction; returns those not applied.

        An item that changed or vanished meanwhile is left alone and returned; the others are
        swapped. Either all the swaps commit or, if the transaction fails, none does.
        """
        async with self._sessions.begin() as session:
            outcomes = await _swap_headers(session, replacements)
        return [r for r, outcome in zip(replacements, outcomes, strict=True) if outcome != "ok"]

    async def item_refs(
        self, *, key_id: str | None = None, channel: str | None = None
    ) -> list[ItemRef]:
        """Every item (of one channel's reports, or of all), or those whose header is wrapped
        to `key_id`: ids only, no headers."""
        query = select(ItemRow.report_id, ItemRow.seq, ItemRow.id).where(
            *rows_of(ItemRow.report_id, channel)
        ).order_by(ItemRow.report_id, ItemRow.seq)
        if key_id is not None:
            query = query.where(exists().where(
                ItemRecipientRow.item_id == ItemRow.id, ItemRecipientRow.key_id == key_id
            ))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [ItemRef(report_id, seq, item_id) for report_id, seq, item_id in rows]

    async def replace_payload(self, replacement: PayloadReplacement) -> None:
        """Swap an item for its re-encrypted copy and re-sign the manifest, in one transaction.

        The new blob must already be written and synced. Raises ItemNotFoundError if the report
        or item is gone and HeaderConflictError if the item or the manifest changed since the
        caller read them; nothing is written then, and the caller deletes its new blob.
        """
        r = replacement
        new = r.new_item
        async with self._sessions.begin() as session:
            manifest = await session.scalar(
                select(ReportRow.manifest).where(ReportRow.id == r.report_id).with_for_update()
            )
            row = (await session.execute(
                select(ItemRow.id, ItemRow.header)
                .where(ItemRow.report_id == r.report_id, ItemRow.seq == r.seq)
                .with_for_update()
            )).first()
            if manifest is None or row is None:
                raise ItemNotFoundError(f"report {r.report_id} has no item {r.seq}")
            old_id, old_header = row
            if (
                manifest != r.expected_manifest
                or old_id != r.expected_item_id
                or header_sha256(old_header) != r.expected_header_sha256
            ):
                raise HeaderConflictError(
                    f"item {r.seq} of report {r.report_id} changed since it was read"
                )
            # Children first: items.id is about to change and nothing may point at the old id.
            await session.execute(
                delete(ItemRecipientRow).where(ItemRecipientRow.item_id == old_id)
            )
            swapped = await session.execute(
                update(ItemRow)
                .where(ItemRow.id == old_id, ItemRow.header == old_header)
                .values(
                    id=new.item_id,
                    header=new.header,
                    payload_size=new.payload_size,
                    payload_sha256=new.payload_sha256,
                )
                .execution_options(synchronize_session=False)
            )
            signed = await session.execute(
                update(ReportRow)
                .where(ReportRow.id == r.report_id, ReportRow.manifest == r.expected_manifest)
                .values(manifest=r.new_manifest, manifest_signature=r.new_manifest_signature)
                .execution_options(synchronize_session=False)
            )
            if _rowcount(swapped) != 1 or _rowcount(signed) != 1:
                # Raising rolls the whole transaction back, the deletion above included.
                raise HeaderConflictError(
                    f"item {r.seq} of report {r.report_id} changed while it was being replaced"
                )
            await _insert_key_ids(session, new.item_id, new.recipient_key_ids)

    # --- retention -----------------------------------------------------------------------

    async def schedule_expiry(
        self, periods: Mapping[str, int], today: dt.date, *, channel: str | None = None
    ) -> tuple[int, int]:
        """Give reports (of `channel`, or all) in a status with a retention period an expiry
        date, once.

        A report in status S without `expires_on` gets today + periods[S] days. A report whose
        status has no period (reopened, say) loses its expiry date. Returns (scheduled, cleared).
        """
        scheduled = cleared = 0
        scope = reports_of(channel)
        async with self._sessions.begin() as session:
            for status, days in periods.items():
                result = await session.execute(
                    update(ReportRow)
                    .where(ReportRow.status == status, ReportRow.expires_on.is_(None), *scope)
                    .values(expires_on=today + dt.timedelta(days=days))
                    .execution_options(synchronize_session=False)
                )
                scheduled += _rowcount(result)
            keep: ColumnElement[bool] = ReportRow.expires_on.is_not(None)
            if periods:
                keep = keep & ReportRow.status.not_in(list(periods))
            result = await session.execute(
                update(ReportRow)
                .where(keep, *scope)
                .values(expires_on=None)
                .execution_options(synchronize_session=False)
            )
            cleared = _rowcount(result)
        return scheduled, cleared

    async def expired(
        self, statuses: Collection[str], today: dt.date, *, page_size: int = 500,
        channel: str | None = None,
    ) -> AsyncIterator[str]:
        """Ids of reports (of `channel`, or all) in one of `statuses` whose expiry date is today
        or earlier.

        Streamed in keyset pages of (expires_on, id), so a walk over a large store holds one
        page in memory, and reports shredded meanwhile do not shift the pages after them.
        """
        if not statuses:
            return
        position: tuple[dt.date, str] | None = None
        while True:
            query = (
                select(ReportRow.expires_on, ReportRow.id)
                .where(ReportRow.status.in_(list(statuses)), ReportRow.expires_on <= today)
                .where(*reports_of(channel))
                .order_by(ReportRow.expires_on, ReportRow.id)
                .limit(page_size)
            )
            if position is not None:
                query = query.where(tuple_(ReportRow.expires_on, ReportRow.id) > position)
            async with self._sessions() as session:
                rows = (await session.execute(query)).all()
            for _expires_on, report_id in rows:
                yield report_id
            if len(rows) < page_size:
                return
            last_day, last_id = rows[-1]
            assert last_day is not None  # the WHERE clause keeps only rows with a date
            position = (last_day, last_id)

    async def shred(
        self,
        report_id: str,
        *,
        statuses: Collection[str] | None = None,
        expired_on: dt.date | None = None,
    ) -> ShreddedReport | None:
        """Delete a report's headers and rows in one transaction (crypto-shredding).

        With `statuses` and `expired_on`, only if the report is still in one of those statuses
        and expires on that day or before, checked inside the transaction so a report reopened
        meanwhile is kept. Returns None if nothing was deleted. The payload blobs are left to
        the caller: without their headers they cannot be decrypted by anyone, and deleting
        files cannot be part of a database transaction.
        """
        async with self._sessions.begin() as session:
            query = select(ReportRow.status).where(ReportRow.id == report_id)
            if statuses is not None:
                query = query.where(ReportRow.status.in_(list(statuses)))
            if expired_on is not None:
                query = query.where(ReportRow.expires_on <= expired_on)
            status = await session.scalar(query.with_for_update())
            if status is None:
                return None
            item_ids = tuple((await session.scalars(
                select(ItemRow.id).where(ItemRow.report_id == report_id).order_by(ItemRow.seq)
            )).all())
            # Headers first (they hold the only wrapped copies of the file keys), then the
            # report row, whose foreign keys take labels, notes and witness messages with it.
            await session.execute(
                delete(ItemRecipientRow).where(ItemRecipientRow.item_id.in_(item_ids))
            )
            await session.execute(delete(ItemRow).where(ItemRow.report_id == report_id))
            await session.execute(delete(ReportRow).where(ReportRow.id == report_id))
        return ShreddedReport(report_id, status, item_ids)

    async def release_freed_space(self) -> None:
        """Push deleted rows out of the database files where the database lets us.

        SQLite (secure_delete is on) still has the old pages in its write-ahead log until a
        checkpoint; PostgreSQL keeps deleted rows as dead tuples until VACUUM. Neither reaches
        backups or PostgreSQL's own WAL archive.
        """
        async with self._sessions() as session:
            connection = await session.connection(
                execution_options={"isolation_level": "AUTOCOMMIT"}
            )
            if connection.dialect.name == "sqlite":
                await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            elif connection.dialect.name == "postgresql":
                await connection.exec_driver_sql(
                    "VACUUM items, item_recipients, reports, notes, witness_messages, "
                    "report_labels, payloads, payload_chunks"
                )


def _stored_item(row: ItemRow) -> StoredItem:
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


def _not_wrapped_exactly_to(target_key_ids: Collection[str]) -> ColumnElement[bool]:
    """Items with a key id outside the target set, or missing one of the target key ids."""
    target = sorted(set(target_key_ids))
    if not target:
        raise ValueError("the target recipient set is empty")
    foreign = exists().where(
        ItemRecipientRow.item_id == ItemRow.id, ItemRecipientRow.key_id.not_in(target)
    )
    present = (
        select(func.count())
        .select_from(ItemRecipientRow)
        .where(ItemRecipientRow.item_id == ItemRow.id, ItemRecipientRow.key_id.in_(target))
        .scalar_subquery()
    )
    return or_(foreign, present < len(target))


async def _swap_headers(
    session: AsyncSession, replacements: Sequence[HeaderReplacement]
) -> list[Literal["ok", "missing", "changed"]]:
    """Swap a batch of headers in the session's transaction: four statements per batch.

    The rows are read FOR UPDATE (PostgreSQL locks them until commit; SQLite has one writer
    at a time and refuses to commit a write based on a stale read), the expected hashes are
    compared here, and the UPDATE repeats the comparison on the old bytes where the driver can
    tell us how many rows it changed.
    """
    report_ids = sorted({r.report_id for r in replacements})
    rows = (await session.execute(
        select(ItemRow.report_id, ItemRow.seq, ItemRow.id, ItemRow.header)
        .where(ItemRow.report_id.in_(report_ids))
        .with_for_update()
    )).all() if report_ids else []
    stored = {(report_id, seq): (item_id, header) for report_id, seq, item_id, header in rows}
    outcomes: list[Literal["ok", "missing", "changed"]] = []
    swaps: list[dict[str, object]] = []
    key_ids: dict[str, tuple[str, ...]] = {}
    for r in replacements:
        found = stored.get((r.report_id, r.seq))
        if found is None:
            outcomes.append("missing")
            continue
        item_id, old_header = found
        if header_sha256(old_header) != r.expected_old_sha256:
            outcomes.append("changed")
            continue
        outcomes.append("ok")
        # Later replacements of the same item in this batch must see this one's result.
        stored[(r.report_id, r.seq)] = (item_id, r.new_header)
        swaps.append({"b_id": item_id, "b_old": old_header, "b_new": r.new_header})
        key_ids[item_id] = r.recipient_key_ids
    if not swaps:
        return outcomes
    table = cast(Table, ItemRow.__table__)
    result = await session.execute(
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.header == bindparam("b_old"))
        .values(header=bindparam("b_new")),
        swaps,
    )
    if session.get_bind().dialect.supports_sane_multi_rowcount and _rowcount(result) != len(swaps):
        # Cannot happen given the reads above; raising rolls the whole batch back.
        raise HeaderConflictError("a header changed while the batch was being swapped")
    await session.execute(
        delete(ItemRecipientRow).where(ItemRecipientRow.item_id.in_(sorted(key_ids)))
    )
    rows_to_insert = [
        {"item_id": item_id, "key_id": key}
        for item_id, keys in key_ids.items()
        for key in sorted(set(keys))
    ]
    if rows_to_insert:
        await session.execute(insert(ItemRecipientRow), rows_to_insert)
    return outcomes


async def _insert_key_ids(session: AsyncSession, item_id: str, key_ids: Sequence[str]) -> None:
    if key_ids:
        await session.execute(
            insert(ItemRecipientRow),
            [{"item_id": item_id, "key_id": key} for key in sorted(set(key_ids))],
        )


def _rowcount(result: Result[Any]) -> int:
    # UPDATE and DELETE results are cursor results, which know how many rows matched.
    return cast(CursorResult[Any], result).rowcount


def _summary(row: ReportRow, item_count: int) -> ReportSummary:
    return ReportSummary(
        report_id=row.id,
        received_day=row.received_day,
        status=row.status,
        priority=row.priority,
        assignee=row.assignee,
        item_count=item_count,
        channel=row.channel,
    )


class RecipientRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(
        self,
        name: str,
        recipient: str,
        key_id: str,
        today: dt.date,
        kind: RecipientKind = RecipientKind.REVIEWER,
        channel: str = DEFAULT_CHANNEL,
    ) -> RecipientRecord:
        row = RecipientRow(
            name=name, recipient=recipient, key_id=key_id, added_on=today, kind=kind.value,
            channel=channel,
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise RecipientExistsError(name) from None
        return _recipient(row)

    async def remove(self, name: str, today: dt.date) -> RecipientRecord:
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(RecipientRow).where(
                    RecipientRow.name == name, RecipientRow.removed_on.is_(None)
                )
            )
            if row is None:
                raise UnknownRecipientError(name)
            row.removed_on = today
        return _recipient(row)

    async def registered(
        self, *, include_removed: bool = True, channel: str | None = None
    ) -> list[RecipientRecord]:
        """Recipients of one channel, or of every channel when `channel` is None."""
        query = select(RecipientRow).order_by(RecipientRow.name)
        if not include_removed:
            query = query.where(RecipientRow.removed_on.is_(None))
        if channel is not None:
            query = query.where(RecipientRow.channel == channel)
        async with self._sessions() as session:
            rows: Sequence[RecipientRow] = (await session.scalars(query)).all()
        return [_recipient(row) for row in rows]

    async def active(self, channel: str | None = None) -> list[RecipientRecord]:
        """Active recipients of one channel (what its reports are sealed to), or of all."""
        return await self.registered(include_removed=False, channel=channel)


def _recipient(row: RecipientRow) -> RecipientRecord:
    return RecipientRecord(
        name=row.name,
        recipient=row.recipient,
        key_id=row.key_id,
        added_on=row.added_on,
        removed_on=row.removed_on,
        kind=RecipientKind(row.kind),
        channel=row.channel,
    )
