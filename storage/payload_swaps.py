"""Re-encryption in the database: an item swapped for its re-encrypted copy, with the report's
custody manifest re-signed, as one compare-and-swap (review/reencrypt.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.header_swaps import HeaderConflictError, ItemNotFoundError, header_sha256
from storage.models import ItemRecipientRow, ItemRow, ReportRow
from storage.records import NewItem
from storage.rows import rowcount


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


class PayloadSwaps:
    """ReportRepository's re-encryption query: swapping an item's payload and manifest."""

    _sessions: async_sessionmaker[AsyncSession]

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
            if rowcount(swapped) != 1 or rowcount(signed) != 1:
                # Raising rolls the whole transaction back, the deletion above included.
                raise HeaderConflictError(
                    f"item {r.seq} of report {r.report_id} changed while it was being replaced"
                )
            await _insert_key_ids(session, new.item_id, new.recipient_key_ids)


async def _insert_key_ids(session: AsyncSession, item_id: str, key_ids: Sequence[str]) -> None:
    if key_ids:
        await session.execute(
            insert(ItemRecipientRow),
            [{"item_id": item_id, "key_id": key} for key in sorted(set(key_ids))],
        )
