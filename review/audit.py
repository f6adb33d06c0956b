"""The audit trail: who did what to which report, when; hash-chained and signed.

Each entry is canonical JSON holding the SHA-256 of the previous entry, signed with the
server's Ed25519 custody key. Changing, removing or reordering any entry breaks the chain or a
signature, and `verify` names the first entry where that happens. Entries never hold witness
data: actors are reviewer or administrator names, subjects are random report ids.

The store indexes each entry under the reports it concerns (`concerned_refs`, written with the
entry). And each entry about reports also writes one entry per report into that report's own
chain of custody (review/custody/entries.py), in the same transaction, timed by this server's
clock; an entry that the clock would date before a report's arrival is refused.

The entries' fields and bytes are in review/audit_entries.py, the check that `verify` runs in
review/audit_verify.py; this module writes and reads the trail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from crypto.custody import custody_public_key, sign_manifest
from review.audit_entries import (
    BATCH_ACTIONS,
    GENESIS,
    AuditEntry,
    concerned_refs,
    decode_entry,
    encode_entry,
    report_ref,
)
from review.audit_verify import (
    INDEX_PROBLEM,
    STORED_AS_TEXT,
    ChainCheck,
    VerifyResult,
    reindex_trail,
    verify_trail,
)
from review.custody.entries import GENESIS as CHAIN_GENESIS
from review.custody.entries import CustodyEntry, decode_custody, encode_custody
from storage.audit import AuditConflict, AuditRecord, AuditRepository, CustodyRecord

# Names other modules import from here; they live in review/audit_entries.py and
# review/audit_verify.py.
__all__ = [
    "BATCH_ACTIONS",
    "GENESIS",
    "INDEX_PROBLEM",
    "PAGE",
    "STORED_AS_TEXT",
    "AuditEntry",
    "AuditTrail",
    "ChainCheck",
    "CustodyTimeError",
    "VerifyResult",
    "concerned_refs",
    "decode_entry",
    "encode_entry",
    "report_ref",
]

_RETRIES = 20
# Entries read at once when walking the trail: a trail of millions is never all in memory.
PAGE = 1000


class CustodyTimeError(RuntimeError):
    """The server's clock dates an entry before the arrival of a report it is about."""


class AuditTrail:
    def __init__(
        self,
        repository: AuditRepository,
        signing_key: bytes,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._repository = repository
        self._signing_key = signing_key
        self._clock = clock

    async def record(
        self,
        actor: str,
        action: str,
        report_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        *,
        per_report: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> AuditEntry:
        """Append one entry. `details` must hold only ids, names of staff, numbers and states.

        The entry goes into the chain of custody of `report_id` with the same details, or, for
        an entry about many reports (a batch), of each report in `per_report` with that
        report's own part of the details. CustodyTimeError if this server's clock is before
        the day such a report arrived: nothing is written then.
        """
        targets = dict(per_report) if per_report is not None else (
            {report_id: dict(details or {})} if report_id is not None else {}
        )
        arrived = await self._repository.received_days(list(targets)) if targets else {}
        for _attempt in range(_RETRIES):
            last = await self._repository.last()
            now = self._clock()
            for target, day in sorted(arrived.items()):
                if now.date() < day:
                    raise CustodyTimeError(
                        f"refused: this server's clock reads {now.date()}, before report "
                        f"{target} arrived ({day}); an access cannot precede the report. Set "
                        "the clock right (NTP) and try again"
                    )
            entry = AuditEntry(
                seq=(last.seq + 1) if last else 1,
                at=now.isoformat(timespec="seconds"),
                actor=actor,
                action=action,
                report_id=report_id,
                details=dict(details or {}),
                prev=last.entry_hash if last else GENESIS,
            )
            encoded = encode_entry(entry)
            # Indexed by what the stored bytes say, as concerns() will read them back.
            about = [bytes.fromhex(ref) for ref in sorted(concerned_refs(decode_entry(encoded)))]
            custody = await self._custody_records(entry, targets)
            try:
                await self._repository.append(AuditRecord(
                    seq=entry.seq,
                    entry=encoded,
                    entry_hash=hashlib.sha256(encoded).hexdigest(),
                    signature=sign_manifest(self._signing_key, encoded),
                ), about=about, custody=custody)
            except AuditConflict:
                continue
            return entry
        raise RuntimeError("the audit trail is too busy to append; try again")

    async def _custody_records(
        self, entry: AuditEntry, targets: Mapping[str, Mapping[str, Any]]
    ) -> list[CustodyRecord]:
        """The next entry of each target report's own chain, signed."""
        if not targets:
            return []
        refs = {report_id: bytes.fromhex(report_ref(report_id)) for report_id in targets
                if report_id.isascii()}
        heads = await self._repository.custody_heads(refs.values())
        starting = [ref for ref in refs.values() if ref not in heads]
        legacy = await self._repository.indexed_hashes(starting) if starting else {}
        records = []
        for report_id, ref in sorted(refs.items()):
            head = heads.get(ref)
            previous = decode_custody(head.entry) if head is not None else None
            # Never dated before the report's previous entry, should the clock step back.
            at = max(entry.at, previous.at) if previous is not None else entry.at
            chained = CustodyEntry(
                report=report_id,
                n=1 if head is None else head.n + 1,
                prev=CHAIN_GENESIS if head is None else head.entry_hash,
                at=at,
                actor=entry.actor,
                action=entry.action,
                details=dict(targets[report_id]),
                legacy=tuple(legacy.get(ref, [])) if head is None else None,
            )
            encoded = encode_custody(chained)
            records.append(CustodyRecord(
                ref, chained.n, encoded, hashlib.sha256(encoded).hexdigest(),
                sign_manifest(self._signing_key, encoded),
            ))
        return records

    async def entries(self) -> list[AuditEntry]:
        return [decode_entry(r.entry) async for r in self.records()]

    async def entries_about(self, report_id: str) -> list[AuditEntry]:
        """The well-formed entries indexed under this report, in trail order: its own and the
        batches naming it (review.custody.chain.report_records is the exact rule)."""
        if not report_id.isascii():
            return []  # no entry is indexed under an id no report can have
        found = []
        for record in await self._repository.entries_about(bytes.fromhex(report_ref(report_id))):
            try:
                found.append(decode_entry(record.entry))
            except (ValueError, TypeError):
                continue  # `verify` names it
        return found

    async def records(self, *, after: int = 0, page: int = PAGE) -> AsyncIterator[AuditRecord]:
        """The records after number `after`, in order, read `page` at a time."""
        while batch := await self._repository.entries(after=after, limit=page):
            for record in batch:
                yield record
            after = batch[-1].seq

    async def newest_records(self, count: int) -> AsyncIterator[AuditRecord]:
        """The last `count` records, in order (numbers run from 1 without gaps; `verify`
        names any gap)."""
        last = await self._repository.last()
        if last is not None:
            async for record in self.records(after=max(0, last.seq - count)):
                yield record

    async def verify(self, *, page: int = PAGE) -> VerifyResult:
        """Check the whole trail and every report's own chain, a page at a time; the first
        broken entry and what is wrong with it (review/audit_verify.py)."""
        return await verify_trail(
            self._repository, custody_public_key(self._signing_key), page=page
        )

    async def reindex(self, *, page: int = PAGE) -> int:
        """Add the rows of the index by report that entries lack (those a worker on an older
        version appended during an upgrade); returns how many. Rows already there are kept."""
        return await reindex_trail(self._repository, page=page)
