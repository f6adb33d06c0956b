"""The audit trail: who did what to which report, when; hash-chained and signed.

Each entry is canonical JSON holding the SHA-256 of the previous entry, signed with the
server's Ed25519 custody key. Changing, removing or reordering any entry breaks the chain or a
signature, and `verify` names the first entry where that happens. Entries never hold witness
data: actors are reviewer or administrator names, subjects are random report ids.

The store indexes each entry under the reports it concerns (`concerned_refs`, written with the
entry), so a report's chain of custody is read without reading the whole trail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from crypto.custody import custody_public_key, sign_manifest, verify_manifest
from storage.audit import AuditConflict, AuditRecord, AuditRepository

GENESIS = "0" * 64
_RETRIES = 20
# Audit actions with no report id that still concern a report's items (details list them).
BATCH_ACTIONS: Final = ("keys.rewrap.batch", "access.opened.batch")


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    report_id: str | None
    details: dict[str, Any]
    prev: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_broken: int | None = None
    problem: str | None = None


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
    ) -> AuditEntry:
        """Append one entry. `details` must hold only ids, names of staff, numbers and states."""
        for _attempt in range(_RETRIES):
            last = await self._repository.last()
            entry = AuditEntry(
                seq=(last.seq + 1) if last else 1,
                at=self._clock().isoformat(timespec="seconds"),
                actor=actor,
                action=action,
                report_id=report_id,
                details=dict(details or {}),
                prev=last.entry_hash if last else GENESIS,
            )
            encoded = encode_entry(entry)
            try:
                await self._repository.append(AuditRecord(
                    seq=entry.seq,
                    entry=encoded,
                    entry_hash=hashlib.sha256(encoded).hexdigest(),
                    signature=sign_manifest(self._signing_key, encoded),
                ), about=[bytes.fromhex(ref) for ref in sorted(concerned_refs(entry))])
            except AuditConflict:
                continue
            return entry
        raise RuntimeError("the audit trail is too busy to append; try again")

    async def entries(self) -> list[AuditEntry]:
        return [decode_entry(r.entry) for r in await self._repository.entries()]

    async def verify(self) -> VerifyResult:
        """The chain and signatures, then the index by report: a row missing there would leave
        an entry out of its report's chain of custody, which the chain alone cannot show."""
        records = await self._repository.entries()
        result = verify_records(records, custody_public_key(self._signing_key))
        if not result.ok:
            return result
        return verify_index(records, await self._repository.index())


def report_ref(report_id: str) -> str:
    """How a batch entry names a report: the SHA-256 of its id. A bundle carries the batches
    that re-wrapped its report, and they must not hand out the ids of the other reports in the
    same batch; the reader of a bundle knows its own report's id, so can match its own."""
    return hashlib.sha256(report_id.encode("ascii")).hexdigest()


def concerned_refs(entry: AuditEntry) -> frozenset[str]:
    """The `report_ref` of every report the entry concerns: what the store indexes it under.

    The same rule as review.custody.chain.concerns, turned around: for every report id,
    `concerns(entry, id)` holds exactly when `report_ref(id)` is in this set (a test checks
    it). Refs, not ids, because a batch names its reports only by ref; a ref that is no
    report_ref (not 64 lowercase hex digits) can match no report, so it is left out.
    Storage/migrations/versions/0011_audit_reports.py keeps a copy of this rule for the
    entries written before the index (migrations import nothing of ours).
    """
    if isinstance(entry.report_id, str):
        return frozenset({report_ref(entry.report_id)} if entry.report_id.isascii() else ())
    if entry.report_id is not None or entry.action not in BATCH_ACTIONS:
        return frozenset()
    listed = entry.details.get("items", []) if isinstance(entry.details, dict) else []
    if not isinstance(listed, list):
        return frozenset()
    return frozenset(
        pair[0] for pair in listed
        if isinstance(pair, list) and pair and isinstance(pair[0], str) and _is_ref(pair[0])
    )


def _is_ref(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def encode_entry(entry: AuditEntry) -> bytes:
    return json.dumps(entry.__dict__, sort_keys=True, separators=(",", ":")).encode("utf-8")


def decode_entry(encoded: bytes) -> AuditEntry:
    return AuditEntry(**json.loads(encoded))


def verify_records(records: list[AuditRecord], public_key: bytes) -> VerifyResult:
    """Check order, chain, stored hashes and signatures; report the first broken entry."""
    previous = GENESIS
    for expected_seq, record in enumerate(records, start=1):
        problem = _problem(record, expected_seq, previous, public_key)
        if problem is not None:
            return VerifyResult(False, len(records), record.seq, problem)
        previous = record.entry_hash
    return VerifyResult(True, len(records))


def verify_index(records: list[AuditRecord], index: list[tuple[bytes, int]]) -> VerifyResult:
    """Whether the index by report holds exactly what each (well-formed) entry concerns; else
    the first entry whose rows are missing or extra."""
    expected = {
        (bytes.fromhex(ref), record.seq)
        for record in records for ref in concerned_refs(decode_entry(record.entry))
    }
    wrong = expected.symmetric_difference(index)
    if not wrong:
        return VerifyResult(True, len(records))
    return VerifyResult(
        False, len(records), min(seq for _key, seq in wrong),
        "the index of the trail by report (audit_reports) does not match it, so a report's "
        "chain of custody would leave it out or show it where it does not belong",
    )


def _problem(record: AuditRecord, expected_seq: int, previous: str, key: bytes) -> str | None:
    if record.seq != expected_seq:
        return f"entry {expected_seq} is missing (found {record.seq} in its place)"
    if hashlib.sha256(record.entry).hexdigest() != record.entry_hash:
        return "its content does not match its stored hash"
    if not verify_manifest(key, record.entry, record.signature):
        return "its signature is not valid"
    try:
        entry = decode_entry(record.entry)
    except (ValueError, TypeError):
        return "it is not a well-formed entry"
    if entry.seq != record.seq:
        return "its content names another sequence number"
    if entry.prev != previous:
        return "it does not follow from the entry before it"
    return None
