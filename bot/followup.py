"""/status on the server side: find a report by its receipt code, open the reviewers' messages
for the witness, and seal what the witness adds to the same report."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass

import crypto
from bot.core.document import addition_document
from bot.core.draft import MediaRef
from bot.core.status import StatusView
from bot.sealing import ItemSealer, WorkSlots, signed_manifest
from bot.submission import Fetch, seal_attachments
from crypto.receipts import (
    LEGACY_RECEIPT_HASH_LENGTH,
    legacy_receipt_hash,
    legacy_witness_identity,
    receipt_keys,
)
from storage import ItemRole, NewItem, Storage
from storage.additions import AlreadyAdded, ManifestChanged
from storage.server_keys import ServerKeys

log = logging.getLogger("intake.followup")

_RETRIES = 3


@dataclass(frozen=True)
class Found:
    report_id: str
    view: StatusView


class FollowUpService:
    def __init__(
        self,
        storage: Storage,
        keys: ServerKeys,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        slots: WorkSlots | None = None,
    ) -> None:
        self._storage = storage
        self._keys = keys
        self._clock = clock
        # The same WorkSlots as the ReportSubmitter's, so one limit covers the whole process.
        self.slots = slots or WorkSlots()
        self._legacy_remain: bool | None = None

    async def look_up(self, code: str, channels: Collection[str] | None = None) -> Found | None:
        """The report of this receipt code, if it came through one of `channels` (None: any).

        Each bot answers for its own channels only: a code of a report made through another
        bot is not found here, as a wrong code is not, and says nothing of that bot's channel.
        """
        derived = receipt_keys(code, self._keys.hash_key)
        identity = derived.witness
        report_id = await self._storage.reports.find_by_receipt_hash(derived.lookup_hash)
        if report_id is None and await self._legacy_codes_remain():
            # A code issued before the HMAC scheme: the one scrypt run /status still pays, and
            # only while such reports are stored (retention closes this path for good).
            legacy_hash = await asyncio.to_thread(legacy_receipt_hash, code, self._keys.hash_key)
            report_id = await self._storage.reports.find_by_receipt_hash(legacy_hash)
            if report_id is not None:
                identity = await asyncio.to_thread(
                    legacy_witness_identity, code, report_id, self._keys.hash_key
                )
        if report_id is None or (
                channels is not None
                and await self._storage.reports.channel_of(report_id) not in channels):
            return None
        report = await self._storage.reports.get(report_id)
        if report is None:
            return None
        messages = []
        for record in await self._storage.triage.witness_messages(report_id):
            plain = io.BytesIO()
            try:
                crypto.decrypt(io.BytesIO(record.sealed), plain, [identity])
            except crypto.DecryptionError:
                log.warning("followup.message_unreadable")
                continue
            messages.append(plain.getvalue().decode("utf-8", errors="replace"))
        return Found(report_id, StatusView(report.summary.status, tuple(messages)))

    async def _legacy_codes_remain(self) -> bool:
        # No new legacy hash is ever written, so once none is left the answer stays "no".
        if self._legacy_remain is not False:
            self._legacy_remain = await self._storage.reports.has_receipt_hashes_of_length(
                LEGACY_RECEIPT_HASH_LENGTH
            )
        return self._legacy_remain

    async def add(
        self,
        report_id: str,
        texts: list[str],
        files: list[MediaRef],
        fetch: Fetch,
        *,
        submission_key: bytes,
    ) -> None:
        """Seal the witness's additions as new items of the report and re-sign its manifest.

        Files stream from `fetch` into their sealed items; if another addition changed the
        report meanwhile, they are fetched and sealed again under the new item numbers.
        `submission_key` (the keyed hash of the update that sent them) is stored with them, so
        the same update redelivered after a crash adds nothing twice.
        """
        if await self._storage.additions.was_added(submission_key):
            log.info("followup.already_added")
            return
        channel = await self._storage.reports.channel_of(report_id)
        if channel is None:
            raise LookupError("the report no longer exists")
        # Sealed to the report's own channel's keys, like the report itself.
        sealer = await ItemSealer.for_active_recipients(self._storage, channel)
        for _attempt in range(_RETRIES):
            report = await self._storage.reports.get(report_id)
            if report is None:
                raise LookupError("the report no longer exists")
            first = max(i.seq for i in report.items) + 1
            written: list[NewItem] = []
            try:
                facts = await seal_attachments(
                    sealer, files, fetch, first + 1, written, first, slots=self.slots
                )
                document = addition_document(
                    report_id=report_id, texts=texts, attachments=facts,
                    submitted_at=self._clock(),
                )
                written.insert(0, await sealer.seal(first, ItemRole.ADDITION, document))
                manifest, signature = signed_manifest(
                    self._keys.custody_key,
                    report_id,
                    report.summary.received_day.isoformat(),
                    [*report.items, *written],
                )
                await self._storage.additions.append(
                    report_id, report.manifest, tuple(written), manifest, signature,
                    submission_key=submission_key, day=self._clock().date(),
                )
            except ManifestChanged:
                sealer.discard(written)
                continue
            except AlreadyAdded:
                sealer.discard(written)
                log.info("followup.already_added")
                return
            except BaseException:
                sealer.discard(written)
                raise
            log.info("followup.added")  # no count, like report.committed
            return
        raise RuntimeError("the report kept changing while adding to it; try again")
