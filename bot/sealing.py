"""Sealing items for a report: every part its own age file, to every active recipient.

Shared by first submissions and later additions: an item's payload blob is written and synced
before its header goes to the database, and the custody manifest is rebuilt and re-signed over
all items whenever items are added.
"""

from __future__ import annotations

import asyncio
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import crypto
from crypto.custody import ManifestEntry, canonical_manifest, sign_manifest
from storage import BlobStore, ItemRole, NewItem, Storage, StoredItem


class NoRecipientsError(Exception):
    """No reviewer recipient is registered, so nothing can be sealed."""

    def __init__(self) -> None:
        super().__init__(
            "no reviewer recipients are registered: run `intake reviewer add --name NAME "
            "--recipient age1...` before accepting reports"
        )


@dataclass
class ItemSealer:
    blobs: BlobStore
    recipients: Sequence[crypto.Recipient]
    key_ids: tuple[str, ...]

    @classmethod
    async def for_active_recipients(cls, storage: Storage) -> ItemSealer:
        records = await storage.recipients.active()
        if not records:
            raise NoRecipientsError()
        return cls(
            storage.blobs,
            [crypto.parse_recipient(r.recipient) for r in records],
            tuple(sorted(r.key_id for r in records)),
        )

    async def seal(
        self, seq: int, role: ItemRole, data: bytes, parent_seq: int | None = None
    ) -> NewItem:
        """Seal in a worker thread: large files must not stall every other witness's chat."""
        return await asyncio.to_thread(self._seal, seq, role, data, parent_seq)

    def _seal(self, seq: int, role: ItemRole, data: bytes, parent_seq: int | None) -> NewItem:
        item_id = secrets.token_hex(16)
        with self.blobs.create(item_id) as blob:
            header = crypto.seal(io.BytesIO(data), blob, self.recipients)
        return NewItem(
            item_id=item_id,
            seq=seq,
            role=role,
            header=header,
            payload_size=blob.size,
            payload_sha256=blob.sha256_hex,
            recipient_key_ids=self.key_ids,
            parent_seq=parent_seq,
        )

    def discard(self, items: Sequence[NewItem]) -> None:
        for item in items:
            self.blobs.delete(item.item_id)


def signed_manifest(
    custody_key: bytes,
    report_id: str,
    received_day: str,
    items: Sequence[NewItem | StoredItem],
) -> tuple[bytes, bytes]:
    ordered = sorted(items, key=lambda i: i.seq)
    manifest = canonical_manifest(
        report_id,
        received_day,
        [ManifestEntry(i.seq, i.role.value, i.payload_size, i.payload_sha256) for i in ordered],
    )
    return manifest, sign_manifest(custody_key, manifest)
