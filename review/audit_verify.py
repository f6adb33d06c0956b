"""Checking the audit trail (review/audit.py) and mending its index by report.

`verify_trail` walks the whole trail a page at a time, so a trail of millions is never all in
memory: order, hash chain, stored hashes and signatures of every entry, the rows of the index
by report each entry calls for, then each report's own chain of custody
(review/custody/entries.py). It names the first broken entry and what is wrong with it.
`reindex_trail` adds the index rows that entries lack.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from crypto.custody import verify_manifest
from review.audit_entries import GENESIS, concerned_refs, decode_entry, report_ref
from review.custody.entries import GENESIS as CHAIN_GENESIS
from review.custody.entries import decode_custody
from storage.audit import AuditRecord, AuditRepository, CustodyRecord

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
class VerifyResult:
    ok: bool
    entries: int
    first_broken: int | None = None
    problem: str | None = None


async def verify_trail(
    repository: AuditRepository, public_key: bytes, *, page: int
) -> VerifyResult:
    """Check the whole trail a page at a time; stop at the first broken entry. Each page's
    rows in the index by report are looked up too: a row missing there would leave an
    entry out of its report's chain of custody, which the hash chain alone cannot show."""
    if page < 1:
        raise ValueError("page must be at least 1")
    check = ChainCheck(public_key)
    missing: int | None = None
    after = 0
    while batch := await repository.entries(after=after, limit=page):
        for record in batch:
            if not check.add(record):
                return check.result(total=await repository.count())
        if missing is None:
            missing = await _first_unindexed(repository, batch, after)
        after = batch[-1].seq
    result = check.result()
    if missing is not None:
        return VerifyResult(False, result.entries, missing, INDEX_PROBLEM)
    if result.ok:
        broken = await _verify_chains(repository, public_key, page)
        if broken is not None:
            return VerifyResult(False, result.entries, *broken)
    return result


async def reindex_trail(repository: AuditRepository, *, page: int) -> int:
    """Add the rows of the index by report that entries lack (those a worker on an older
    version appended during an upgrade); returns how many. Rows already there are kept."""
    added = 0
    after = 0
    while batch := await repository.entries(after=after, limit=page):
        missing = await _unindexed(repository, batch, after)
        await repository.add_index_rows(missing)
        added += len(missing)
        after = batch[-1].seq
    return added


async def _verify_chains(
    repository: AuditRepository, key: bytes, page: int
) -> tuple[int, str] | None:
    """Each report's own chain (review/custody/entries.py): signed, about its report,
    numbered from 1 without a gap, each entry naming the one before. The first broken
    entry as (the audit_log entry written with it, the problem)."""
    after: tuple[bytes, int] = (b"", 0)
    previous: tuple[bytes, int, str] | None = None
    while batch := await repository.custody_page(after=after, limit=page):
        for record, audit_seq in batch:
            problem = _chain_problem(record, previous, key)
            if problem is not None:
                return audit_seq, problem
            previous = (record.report_ref, record.n, record.entry_hash)
        last = batch[-1][0]
        after = (last.report_ref, last.n)
    return None


async def _first_unindexed(
    repository: AuditRepository, records: Sequence[AuditRecord], after: int
) -> int | None:
    """The first of these (well-formed) records that lacks a row of the index by report.
    A row too many is harmless (custody_records asks concerns() of every entry it reads)
    and is not looked for."""
    return min(
        (seq for _key, seq in await _unindexed(repository, records, after)), default=None
    )


async def _unindexed(
    repository: AuditRepository, records: Sequence[AuditRecord], after: int
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
    found = await repository.indexed(
        {key for key, _seq in expected}, after=after, up_to=records[-1].seq
    )
    return expected - found


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
