"""The audit trail: who did what to which report, when; hash-chained and signed.

Each entry is canonical JSON holding the SHA-256 of the previous entry, signed with the
server's Ed25519 custody key. Changing, removing or reordering any entry breaks the chain or a
signature, and `verify` names the first entry where that happens. Entries never hold witness
data: actors are reviewer or administrator names, subjects are random report ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crypto.custody import custody_public_key, sign_manifest, verify_manifest
from storage.audit import AuditConflict, AuditRecord, AuditRepository

GENESIS = "0" * 64
_RETRIES = 20


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
                ))
            except AuditConflict:
                continue
            return entry
        raise RuntimeError("the audit trail is too busy to append; try again")

    async def entries(self) -> list[AuditEntry]:
        return [decode_entry(r.entry) for r in await self._repository.entries()]

    async def verify(self) -> VerifyResult:
        return verify_records(
            await self._repository.entries(), custody_public_key(self._signing_key)
        )


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
