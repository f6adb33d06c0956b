"""The audit trail: who did what to which report, when; hash-chained and signed.

Each entry is canonical JSON holding the SHA-256 of the previous entry, signed with the
server's Ed25519 custody key. Changing, removing or reordering any entry breaks the chain or a
signature, and `verify` names the first entry where that happens. Entries never hold witness
data: actors are reviewer or administrator names, subjects are random report ids.

The store indexes each entry under the reports it concerns (`concerned_refs`, written with the
entry). And each entry about reports also writes one entry per report into that report's own
chain of custody (review/custody/entries.py), in the same transaction, timed by this server's
clock; an entry that the clock would date before a report's arrival is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from crypto.custody import custody_public_key, sign_manifest, verify_manifest
from review.custody.entries import GENESIS as CHAIN_GENESIS
from review.custody.entries import CustodyEntry, decode_custody, encode_custody
from storage.audit import AuditConflict, AuditRecord, AuditRepository, CustodyRecord

GENESIS = "0" * 64
_RETRIES = 20
# Entries read at once when walking the trail: a trail of millions is never all in memory.
PAGE = 1000
# Audit actions with no report id that still concern a report's items (details list them).
BATCH_ACTIONS: Final = ("keys.rewrap.batch", "access.opened.batch")
# What `verify` says of an entry that lacks a row of the index by report.
INDEX_PROBLEM: Final = (
    "the index of the trail by report (audit_reports) lacks it, so the chain of custody of a "
    "report it concerns would leave it out"
)

# What `verify` says of an entry read back as text rather than the bytes that were signed.
STORED_AS_TEXT: Final = (
    "it is stored as text, not as the bytes that were signed (edited by hand, or its column "
    "retyped from binary): restore the table from a backup"
)


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    report_id: str | None
    details: dict[str, Any]
    prev: str


class CustodyTimeError(RuntimeError):
    """The server's clock dates an entry before the arrival of a report it is about."""


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
        """Check the whole trail a page at a time; stop at the first broken entry. Each page's
        rows in the index by report are looked up too: a row missing there would leave an
        entry out of its report's chain of custody, which the hash chain alone cannot show."""
        if page < 1:
            raise ValueError("page must be at least 1")
        check = ChainCheck(custody_public_key(self._signing_key))
        missing: int | None = None
        after = 0
        while batch := await self._repository.entries(after=after, limit=page):
            for record in batch:
                if not check.add(record):
                    return check.result(total=await self._repository.count())
            if missing is None:
                missing = await self._first_unindexed(batch, after)
            after = batch[-1].seq
        result = check.result()
        if missing is not None:
            return VerifyResult(False, result.entries, missing, INDEX_PROBLEM)
        if result.ok:
            broken = await self._verify_chains(custody_public_key(self._signing_key), page)
            if broken is not None:
                return VerifyResult(False, result.entries, *broken)
        return result

    async def _verify_chains(self, key: bytes, page: int) -> tuple[int, str] | None:
        """Each report's own chain (review/custody/entries.py): signed, about its report,
        numbered from 1 without a gap, each entry naming the one before. The first broken
        entry as (the audit_log entry written with it, the problem)."""
        after: tuple[bytes, int] = (b"", 0)
        previous: tuple[bytes, int, str] | None = None
        while batch := await self._repository.custody_page(after=after, limit=page):
            for record, audit_seq in batch:
                problem = _chain_problem(record, previous, key)
                if problem is not None:
                    return audit_seq, problem
                previous = (record.report_ref, record.n, record.entry_hash)
            last = batch[-1][0]
            after = (last.report_ref, last.n)
        return None

    async def reindex(self, *, page: int = PAGE) -> int:
        """Add the rows of the index by report that entries lack (those a worker on an older
        version appended during an upgrade); returns how many. Rows already there are kept."""
        added = 0
        after = 0
        while batch := await self._repository.entries(after=after, limit=page):
            missing = await self._unindexed(batch, after)
            await self._repository.add_index_rows(missing)
            added += len(missing)
            after = batch[-1].seq
        return added

    async def _first_unindexed(self, records: Sequence[AuditRecord], after: int) -> int | None:
        """The first of these (well-formed) records that lacks a row of the index by report.
        A row too many is harmless (custody_records asks concerns() of every entry it reads)
        and is not looked for."""
        return min((seq for _key, seq in await self._unindexed(records, after)), default=None)

    async def _unindexed(
        self, records: Sequence[AuditRecord], after: int
    ) -> set[tuple[bytes, int]]:
        """The (key, seq) rows of the index by report that these records call for and it lacks;
        malformed records call for none."""
        expected: set[tuple[bytes, int]] = set()
        for record in records:
            try:
                refs = concerned_refs(decode_entry(record.entry))
            except (ValueError, TypeError):
                continue  # `verify` names it
            expected.update((bytes.fromhex(ref), record.seq) for ref in refs)
        found = await self._repository.indexed(
            {key for key, _seq in expected}, after=after, up_to=records[-1].seq
        )
        return expected - found


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
    """The entry; ValueError or TypeError for bytes that are not one."""
    try:
        fields = json.loads(encoded)
    except RecursionError:  # nested deeper than json reads: tampering, not an entry
        raise ValueError("nested too deeply to be an audit entry") from None
    return AuditEntry(**fields)


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


def _chain_problem(
    record: CustodyRecord, previous: tuple[bytes, int, str] | None, key: bytes
) -> str | None:
    """What is wrong with one entry of a report's own chain, given the entry read before it
    in (report, n) order; None if nothing."""
    where = f"entry {record.n} of the chain of custody of report ref {record.report_ref.hex()}"
    if not isinstance(record.entry, bytes) or not isinstance(record.signature, bytes):
        return f"{where}: {STORED_AS_TEXT}"
    if hashlib.sha256(record.entry).hexdigest() != record.entry_hash:
        return f"{where}: its content does not match its stored hash"
    if not verify_manifest(key, record.entry, record.signature):
        return f"{where}: its signature is not valid"
    try:
        entry = decode_custody(record.entry)
    except ValueError:
        return f"{where}: it is not a well-formed chain entry"
    if not entry.report.isascii() or report_ref(entry.report) != record.report_ref.hex():
        return f"{where}: it is about another report"
    same = previous is not None and previous[0] == record.report_ref
    expected = previous[1] + 1 if previous is not None and same else 1
    if entry.n != record.n or record.n != expected:
        return f"{where}: entry {expected} is missing (found {record.n} in its place)"
    wanted = previous[2] if previous is not None and same else CHAIN_GENESIS
    if entry.prev != wanted:
        return f"{where}: it does not follow from the entry before it"
    return None


def _problem(record: AuditRecord, expected_seq: int, previous: str, key: bytes) -> str | None:
    if record.seq != expected_seq:
        return f"entry {expected_seq} is missing (found {record.seq} in its place)"
    if not isinstance(record.entry, bytes) or not isinstance(record.signature, bytes):
        # A hand edit or a column retyped from binary reads back as str: never hash that.
        return STORED_AS_TEXT
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
