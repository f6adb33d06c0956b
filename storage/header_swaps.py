"""Re-wrapping in the database: compare-and-swap of item headers, one or a batch per
transaction, each replaced header kept in the item's history (`superseded_headers`) so it can
be put back.

The other steps of a key rotation: which items are left to do in storage/rotation_items.py,
swapping a re-encrypted payload in storage/payload_swaps.py."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import ItemRecipientRow, ItemRow, SupersededHeaderRow
from storage.rows import rowcount


class ItemNotFoundError(LookupError):
    """No item at this report and sequence number: it never existed, or it was shredded."""


class HeaderConflictError(ValueError):
    """The stored item (or custody manifest) is not the one the caller read: someone changed it
    first. Nothing was written; read the item again and redo the step."""


class HeaderVersionError(LookupError):
    """No superseded header of this item with that version number."""


@dataclass(frozen=True)
class SupersededHeader:
    """A header an item had before it was replaced; `version` counts the item's replacements."""

    version: int
    item_id: str
    header: bytes
    recipient_key_ids: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return header_sha256(self.header)


@dataclass(frozen=True)
class HeaderReplacement:
    """Swap one item's header, if it is still the header whose SHA-256 the caller read."""

    report_id: str
    seq: int
    expected_old_sha256: str
    new_header: bytes
    recipient_key_ids: tuple[str, ...]


def header_sha256(header: bytes) -> str:
    return hashlib.sha256(header).hexdigest()


class HeaderSwaps:
    """ReportRepository's re-wrapping queries: swapping headers, their history, undoing."""

    _sessions: async_sessionmaker[AsyncSession]

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

    async def header_history(self, report_id: str, seq: int) -> list[SupersededHeader]:
        """The item's superseded headers, oldest first (empty if it never had another)."""
        async with self._sessions() as session:
            rows = (await session.scalars(
                select(SupersededHeaderRow)
                .where(SupersededHeaderRow.report_id == report_id, SupersededHeaderRow.seq == seq)
                .order_by(SupersededHeaderRow.version)
            )).all()
        return [_superseded(row) for row in rows]

    async def restore_header(
        self, report_id: str, seq: int, version: int, expected_old_sha256: str
    ) -> SupersededHeader:
        """Put superseded header `version` back (the current one joins the history in turn),
        if the current header is still the one whose SHA-256 the caller read; returns it.

        ItemNotFoundError if the item is gone, HeaderVersionError if there is no such version,
        HeaderConflictError if the header changed meanwhile or the item was re-encrypted since
        that header (it would not open the new payload). Nothing is written then.
        """
        async with self._sessions.begin() as session:
            row = await session.get(SupersededHeaderRow, (report_id, seq, version))
            if row is None:
                raise HeaderVersionError(f"item {seq} of {report_id} has no header {version}")
            old = _superseded(row)
            current = await session.scalar(
                select(ItemRow.id).where(ItemRow.report_id == report_id, ItemRow.seq == seq)
            )
            if current is not None and current != old.item_id:
                raise HeaderConflictError(
                    f"item {seq} of {report_id} was re-encrypted since header {version}"
                )
            (outcome,) = await _swap_headers(session, [HeaderReplacement(
                report_id, seq, expected_old_sha256, old.header, old.recipient_key_ids
            )])
            if outcome == "missing":
                raise ItemNotFoundError(f"report {report_id} has no item {seq}")
            if outcome == "changed":
                raise HeaderConflictError(
                    f"the header of item {seq} of report {report_id} is not the one expected"
                )
        return old

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
    stored_before = dict(stored)
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
    await _keep_superseded(session, replacements, outcomes, stored_before)
    table = cast(Table, ItemRow.__table__)
    result = await session.execute(
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.header == bindparam("b_old"))
        .values(header=bindparam("b_new")),
        swaps,
    )
    if session.get_bind().dialect.supports_sane_multi_rowcount and rowcount(result) != len(swaps):
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


async def _keep_superseded(
    session: AsyncSession,
    replacements: Sequence[HeaderReplacement],
    outcomes: Sequence[Literal["ok", "missing", "changed"]],
    stored: dict[tuple[str, int], tuple[str, bytes]],
) -> None:
    """Add each header about to be replaced to its item's history, with the key ids it was
    wrapped to; in the swap's own transaction, so a header is never replaced without a trace.
    An item replaced twice in one batch keeps both (the second's old header is the first's
    new one)."""
    applied = [r for r, outcome in zip(replacements, outcomes, strict=True) if outcome == "ok"]
    item_ids = sorted({stored[(r.report_id, r.seq)][0] for r in applied})
    key_rows = (await session.execute(
        select(ItemRecipientRow.item_id, ItemRecipientRow.key_id)
        .where(ItemRecipientRow.item_id.in_(item_ids))
    )).all()
    key_ids: dict[str, list[str]] = {}
    for item_id, key_id in key_rows:
        key_ids.setdefault(item_id, []).append(key_id)
    versions = dict(((report_id, seq), int(top)) for report_id, seq, top in (await session.execute(
        select(SupersededHeaderRow.report_id, SupersededHeaderRow.seq,
               func.max(SupersededHeaderRow.version))
        .where(SupersededHeaderRow.report_id.in_(sorted({r.report_id for r in applied})))
        .group_by(SupersededHeaderRow.report_id, SupersededHeaderRow.seq)
    )).all())
    rows = []
    for r in applied:
        place = (r.report_id, r.seq)
        item_id, header = stored[place]
        versions[place] = versions.get(place, 0) + 1
        rows.append({
            "report_id": r.report_id, "seq": r.seq, "version": versions[place],
            "item_id": item_id, "header": header,
            "key_ids": ",".join(sorted(set(key_ids.get(item_id, [])))),
        })
        stored[place] = (item_id, r.new_header)
        key_ids[item_id] = list(r.recipient_key_ids)
    await session.execute(insert(SupersededHeaderRow), rows)


def _superseded(row: SupersededHeaderRow) -> SupersededHeader:
    return SupersededHeader(
        row.version, row.item_id, row.header, tuple(k for k in row.key_ids.split(",") if k)
    )
