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
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crypto.custody import custody_public_key, sign_manifest, verify_manifest
from storage.audit import AuditConflict, AuditRecord, AuditRepository

GENESIS = "0" * 64
_RETRIES = 20
# Entries read at once when walking the trail: a trail of millions is never all in memory.
PAGE = 1000


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
        return [decode_entry(r.entry) async for r in self.records()]

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
        """Check the whole trail a page at a time; stop at the first broken entry."""
        check = ChainCheck(custody_public_key(self._signing_key))
        async for record in self.records(page=page):
            if not check.add(record):
                return check.result(total=await self._repository.count())
        return check.result()


def encode_entry(entry: AuditEntry) -> bytes:
    return json.dumps(entry.__dict__, sort_keys=True, separators=(",", ":")).encode("utf-8")


def decode_entry(encoded: bytes) -> AuditEntry:
    return AuditEntry(**json.loads(encoded))


class ChainCheck:
    """Checks order, chain, stored hashes and signatures one record at a time, in trail order,
    so that a trail of any length is verified in pages; remembers the first broken entry."""

    def __init__(self, public_key: bytes) -> None:
        self._public_key = public_key
        self._previous = GENESIS
        self._checked = 0
        self._broken: tuple[int, str] | None = None

    def add(self, record: AuditRecord) -> bool:
        """Check the next record; False once the chain is broken (later ones are not checked)."""
        if self._broken is not None:
            return False
        self._checked += 1
        problem = _problem(record, self._checked, self._previous, self._public_key)
        if problem is not None:
            self._broken = (record.seq, problem)
            return False
        self._previous = record.entry_hash
        return True

    def result(self, *, total: int | None = None) -> VerifyResult:
        """The outcome; `total` is the trail's length when checking stopped before its end."""
        entries = self._checked if total is None else total
        if self._broken is None:
            return VerifyResult(True, entries)
        return VerifyResult(False, entries, *self._broken)


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
