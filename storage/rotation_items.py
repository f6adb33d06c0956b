"""Which items a key rotation still has to visit: those whose header is not wrapped to exactly
the target recipients (re-wrapping, review/keys.py), and those wrapped to a given key
(re-encryption, review/reencrypt.py). Ids and pages only; the swaps themselves are in
storage/header_swaps.py and storage/payload_swaps.py."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from storage.models import ItemRecipientRow, ItemRow
from storage.records import StoredItem
from storage.rows import stored_item
from storage.scope import rows_of


@dataclass(frozen=True)
class ItemRef:
    """An item by its place and id, without its header (what a re-encryption plan lists)."""

    report_id: str
    seq: int
    item_id: str


class RotationItems:
    """ReportRepository's queries for the items a key rotation has left to do."""

    _sessions: async_sessionmaker[AsyncSession]

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
        return [(row.report_id, stored_item(row)) for row in rows]

    async def count_items_for_rewrap(
        self, target_key_ids: Collection[str], *, channel: str | None = None
    ) -> int:
        query = select(func.count(ItemRow.id)).where(
            _not_wrapped_exactly_to(target_key_ids), *rows_of(ItemRow.report_id, channel)
        )
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)

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
