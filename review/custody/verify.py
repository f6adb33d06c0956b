"""Checks of a bundle's custody chain, for `intake verify`: `(folder) -> [(file, problem)]`.

Each returns one (file name relative to the bundle, problem) pair per failing file, and an
empty list when everything holds. They use the bundle's own files only (custody.pub.pem,
manifest.json, custody/): no server, no database, no key but the public one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from crypto.custody import verify_manifest
from review.audit import AuditEntry, decode_entry
from review.custody.chain import (
    CHAIN_FILE,
    ENTRIES_DIR,
    TIMELINE_FILE,
    chain_entry_file,
    chain_signature_file,
    concerns,
    entry_file,
    export_disclosure,
    signature_file,
    timeline,
)
from review.custody.entries import GENESIS, CustodyEntry, decode_custody
from review.evidence.disclosure import KEY_FILE, disclosure_recipient
from review.evidence.reading import Unreadable, read_small
from review.local import ReviewError
from review.tools import public_key_from_pem
from storage.audit import AuditRecord, CustodyRecord

Problem = tuple[str, str]
_FIELDS: Final = ("prev", "entry_sha256", "entry", "signature")
OLD_EXPORT_WARNING: Final = (
    "the chain ends with an export recorded before export entries named their bundle (no "
    "disclosure recipient): that it is this bundle's export, and so that no later access was "
    "cut off the chain, is the bundle's word only")


def _read(folder: Path, name: str, problems: list[Problem]) -> bytes | None:
    # Through the hostile-bundle reader: regular files only, never followed, never blocking
    # (a file swapped for a named pipe after intake verify's walk), size-capped.
    try:
        return read_small(folder, name)
    except Unreadable as unreadable:
        problems.append(unreadable.problem)
    return None


def _report_id(folder: Path, problems: list[Problem]) -> tuple[str, bytes] | None:
    manifest = _read(folder, "manifest.json", problems)
    if manifest is None:
        return None
    try:
        report_id = json.loads(manifest)["report"]
    except (ValueError, KeyError, TypeError):
        problems.append(("manifest.json", "is not a custody manifest naming its report"))
        return None
    if not isinstance(report_id, str):
        problems.append(("manifest.json", "does not name its report"))
        return None
    return report_id, manifest


def _public_key(folder: Path, problems: list[Problem]) -> bytes | None:
    pem = _read(folder, "custody.pub.pem", problems)
    if pem is None:
        return None
    try:
        return public_key_from_pem(pem)
    except (ReviewError, ValueError, binascii.Error):
        problems.append(("custody.pub.pem", "is not an Ed25519 public key in PEM form"))
        return None


def _line(text: str) -> tuple[dict[str, Any], bytes, bytes] | None:
    """A chain line's fields, entry bytes and signature, or None if malformed."""
    try:
        line = json.loads(text)
        if not isinstance(line, dict) or any(f not in line for f in _FIELDS):
            return None
        entry = line["entry"].encode("ascii")
        signature = base64.b64decode(line["signature"], validate=True)
    except (ValueError, AttributeError, TypeError, binascii.Error):
        return None
    place = line.get("n", line.get("seq"))
    if ("n" in line) == ("seq" in line) or not isinstance(place, int) or isinstance(
        place, bool
    ) or not 0 <= place < 10**9 or len(signature) != 64:
        return None
    return line, entry, signature


def _check_entry(
    n: int, line: dict[str, Any], entry: bytes, signature: bytes, key: bytes, report_id: str,
) -> tuple[AuditEntry | None, str | None]:
    if hashlib.sha256(entry).hexdigest() != line["entry_sha256"]:
        return None, f"entry {line['seq']} (line {n}) does not hash to its entry_sha256"
    if not verify_manifest(key, entry, signature):
        return None, f"the signature of entry {line['seq']} (line {n}) is not valid"
    try:
        decoded = decode_entry(entry)
    except (ValueError, TypeError):
        return None, f"entry {line['seq']} (line {n}) is not a well-formed audit entry"
    if decoded.seq != line["seq"] or decoded.prev != line["prev"]:
        return None, f"line {n} gives entry {decoded.seq} another seq or prev than it has"
    if not concerns(decoded, report_id):
        return None, f"entry {decoded.seq} (line {n}) is not about report {report_id}"
    return decoded, None


def _check_chained(
    n: int, line: dict[str, Any], entry: bytes, signature: bytes, key: bytes, report_id: str,
) -> tuple[CustodyEntry | None, str | None]:
    if hashlib.sha256(entry).hexdigest() != line["entry_sha256"]:
        return None, f"custody entry {line['n']} (line {n}) does not hash to its entry_sha256"
    if not verify_manifest(key, entry, signature):
        return None, f"the signature of custody entry {line['n']} (line {n}) is not valid"
    try:
        decoded = decode_custody(entry)
    except ValueError:
        return None, f"custody entry {line['n']} (line {n}) is not a well-formed chain entry"
    if decoded.n != line["n"] or decoded.prev != line["prev"]:
        return None, f"line {n} gives custody entry {decoded.n} another n or prev than it has"
    if decoded.report != report_id:
        return None, f"custody entry {decoded.n} (line {n}) is not about report {report_id}"
    return decoded, None


def _received_day(manifest: bytes) -> dt.date | None:
    try:
        return dt.date.fromisoformat(json.loads(manifest)["received_day"])
    except (ValueError, KeyError, TypeError):
        return None


def _before_arrival(at: str, received: dt.date | None) -> bool:
    """Whether a time is on a day before the report's arrival (an unreadable one counts)."""
    if received is None:
        return False
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError:
        return True
    day = moment.astimezone(dt.UTC).date() if moment.tzinfo else moment.date()
    return day < received


class _Walk:
    """The order checks of custody/chain.jsonl, line by line: legacy entries (trail numbers,
    gaps allowed) first, then the report's own chain (n = 1, 2, 3..., no gap, each linked)."""

    def __init__(self, received: dt.date | None, present: set[int]) -> None:
        self.received = received
        self.present = present  # the chain numbers anywhere in the file
        self.problems: list[str] = []
        self.previous_legacy: tuple[int, str] | None = None
        self.legacy_hashes: list[str] = []
        self.chained: list[tuple[CustodyEntry, str]] = []
        self.last_legacy: AuditEntry | None = None

    def legacy(self, n: int, decoded: AuditEntry, entry_hash: str) -> None:
        previous = self.previous_legacy
        if self.chained:
            self.problems.append(
                f"entry {decoded.seq} (line {n}) is from before the report's own chain, but "
                "comes after it: the entries were reordered"
            )
        elif previous is not None and decoded.seq <= previous[0]:
            self.problems.append(f"entry {decoded.seq} (line {n}) is out of order")
        elif previous is not None and decoded.seq == previous[0] + 1 and (
            decoded.prev != previous[1]
        ):
            self.problems.append(
                f"entry {decoded.seq} does not follow from entry {previous[0]}: its prev is "
                "not that entry's SHA-256"
            )
        if _before_arrival(decoded.at, self.received):
            self.problems.append(
                f"entry {decoded.seq} is dated {decoded.at}, before the report arrived "
                f"({self.received}): an access cannot precede the report"
            )
        self.previous_legacy = (decoded.seq, entry_hash)
        self.legacy_hashes.append(entry_hash)
        self.last_legacy = decoded

    def chain(self, n: int, decoded: CustodyEntry, entry_hash: str) -> None:
        """One chain entry, in file order. A number missing from the whole file is a dropped
        entry; numbers all there but out of order are a reordering; each entry's prev must be
        the SHA-256 of the entry numbered one lower."""
        top = max((e.n for e, _h in self.chained), default=0)
        if decoded.n <= top:
            self.problems.append(
                f"custody entry {decoded.n} (line {n}) comes after entry {top}: "
                "the entries were reordered"
            )
        elif decoded.n > top + 1:
            missing = [k for k in range(top + 1, decoded.n) if k not in self.present]
            if missing:
                what = (f"entry {missing[0]}" if len(missing) == 1
                        else f"entries {missing[0]} to {missing[-1]}")
                self.problems.append(
                    f"custody {what} of this report is missing: entry {decoded.n} (line {n}) "
                    f"follows {'the start' if top == 0 else f'entry {top}'}; "
                    "an entry was dropped"
                )
            else:
                self.problems.append(
                    f"custody entry {decoded.n} (line {n}) comes before entry {top + 1}: "
                    "the entries were reordered"
                )
        hashes = {e.n: h for e, h in self.chained}
        wanted = GENESIS if decoded.n == 1 else hashes.get(decoded.n - 1)
        if wanted is not None and decoded.prev != wanted:
            self.problems.append(
                f"custody entry {decoded.n} does not follow from "
                f"{'the start of the chain' if decoded.n == 1 else f'entry {decoded.n - 1}'}: "
                "its prev is not that entry's SHA-256"
            )
        earlier = [e for e, _h in self.chained if e.n < decoded.n and e.at > decoded.at]
        if earlier:
            self.problems.append(
                f"custody entry {decoded.n} is dated before entry {earlier[-1].n}: the "
                "entries were reordered"
            )
        if _before_arrival(decoded.at, self.received):
            self.problems.append(
                f"custody entry {decoded.n} is dated {decoded.at}, before the report arrived "
                f"({self.received}): an access cannot precede the report"
            )
        self.chained.append((decoded, entry_hash))

    def finish(self, report_id: str) -> None:
        if self.chained:
            first, _hash = self.chained[0]
            if first.n == 1:
                named = list(first.legacy or ())
                for entry_hash in named:
                    if entry_hash not in self.legacy_hashes:
                        self.problems.append(
                            f"the entry from before the chain with SHA-256 {entry_hash}, "
                            "named by custody entry 1, is missing: an entry was dropped"
                        )
                if [h for h in self.legacy_hashes if h in named] != [
                    h for h in named if h in self.legacy_hashes
                ]:
                    self.problems.append(
                        "the entries from before the chain are not in the order custody entry 1 "
                        "names them: the entries were reordered"
                    )
                for entry_hash in self.legacy_hashes:
                    if entry_hash not in named:
                        self.problems.append(
                            f"the entry with SHA-256 {entry_hash} is not named by custody entry "
                            "1 as one from before the chain"
                        )
            last_chained = self.chained[-1][0]
            if last_chained.action != "access.exported":
                self.problems.append("the chain does not end with the export of this report")
        elif self.last_legacy is None or self.last_legacy.action != "access.exported" or (
            self.last_legacy.report_id != report_id
        ):
            self.problems.append("the chain does not end with the export of this report")


def _this_bundle(folder: Path, last: CustodyEntry, problems: list[Problem]) -> list[str]:
    """The chain's last export must be this bundle's: its entry names the recipient of the
    disclosure identity made for the bundle, which is derived here from disclosure.key. A chain
    cut back to an earlier export (hiding every access since) names another bundle's. An old
    export entry names none: chain_warnings says what that leaves unproven."""
    named = export_disclosure(last)
    if named is None:
        return []
    try:
        own = disclosure_recipient(folder)
    except Unreadable as unreadable:
        problems.append(unreadable.problem)
        return [f"custody entry {last.n} names this bundle by its disclosure recipient, but "
                f"{KEY_FILE} cannot be read to tell"]
    if own != named:
        return [f"the chain ends with custody entry {last.n}, the export of another bundle "
                f"(disclosure recipient {named}, this bundle's is {own}): the chain was cut back "
                "to an earlier export, hiding what came after it"]
    return []


def chain_warnings(folder: Path) -> list[str]:
    """What the chain cannot prove about itself, for the verdict (not a failure): an export
    entry from before they named their bundle cannot show that the chain was not cut back to
    it from a later bundle's."""
    try:
        lines = read_small(folder, CHAIN_FILE).decode("ascii").splitlines()
        last = json.loads(json.loads(lines[-1])["entry"]) if lines else None
    except (Unreadable, ValueError, KeyError, TypeError, IndexError, RecursionError):
        return []  # check_custody_chain names the problem
    if not isinstance(last, dict) or last.get("action") != "access.exported" or (
        isinstance(last.get("details"), dict) and "disclosure" in last["details"]
    ):
        return []
    return [OLD_EXPORT_WARNING]


def _numbers(lines: list[str]) -> set[int]:
    """The chain numbers (n) the lines give, read loosely: only to tell a dropped entry from
    one that was moved."""
    found = set()
    for text in lines:
        parsed = _line(text)
        if parsed is not None and "n" in parsed[0]:
            found.add(parsed[0]["n"])
    return found


def check_custody_chain(folder: Path, public_key: bytes | None = None) -> list[Problem]:
    """Each entry of custody/chain.jsonl: hashes to its entry_sha256, is signed by the custody
    key (`public_key` when the examiner pins one, else custody.pub.pem), is about this report,
    matches its entry files; the report's own chain runs n = 1, 2, 3... with each prev the
    entry before's SHA-256 and names the legacy entries, none dated before the report's
    arrival; the chain ends with this export; timeline.txt matches."""
    problems: list[Problem] = []
    key = public_key if public_key is not None else _public_key(folder, problems)
    found = _report_id(folder, problems)
    chain = _read(folder, CHAIN_FILE, problems)
    if key is None or found is None or chain is None:
        return problems
    report_id, manifest = found
    lines = chain.decode("ascii", "replace").splitlines()
    walk = _Walk(_received_day(manifest), _numbers(lines))
    chain_problems = walk.problems
    records: list[AuditRecord] = []
    chained: list[CustodyRecord] = []
    listed: set[str] = set()
    unsigned = 0
    for n, text in enumerate(lines, start=1):
        parsed = _line(text)
        if parsed is None:
            chain_problems.append(f"line {n} is not a well-formed chain entry")
            continue
        line, entry, signature = parsed
        if "n" in line:
            files = (chain_entry_file(line["n"]), chain_signature_file(line["n"]))
            listed.update(files)
            custody, problem = _check_chained(n, line, entry, signature, key, report_id)
            if problem is not None or custody is None:
                chain_problems.append(problem or f"line {n} is broken")
                unsigned += problem is not None and "signature" in problem
                continue
            walk.chain(n, custody, line["entry_sha256"])
            chained.append(CustodyRecord(b"", custody.n, entry, line["entry_sha256"], signature))
        else:
            files = (entry_file(line["seq"]), signature_file(line["seq"]))
            listed.update(files)
            decoded, problem = _check_entry(n, line, entry, signature, key, report_id)
            if problem is not None or decoded is None:
                chain_problems.append(problem or f"line {n} is broken")
                unsigned += problem is not None and "signature" in problem
                continue
            walk.legacy(n, decoded, line["entry_sha256"])
            records.append(AuditRecord(decoded.seq, entry, line["entry_sha256"], signature))
        if (line.get("entry_file"), line.get("signature_file")) != files:
            chain_problems.append(f"line {n} names other files than {files[0]} and {files[1]}")
        for name, expected in zip(files, (entry, signature), strict=True):
            data = _read(folder, name, problems)
            if data is not None and data != expected:
                problems.append((name, f"differs from its line in {CHAIN_FILE}"))
    if lines and unsigned == len(lines):
        # Not one signature verifies: the key is what changed (or every entry was re-signed).
        return [*problems, ("custody.pub.pem", "no entry of the custody chain is signed by it")]
    walk.finish(report_id)
    if walk.chained and not chain_problems:
        chain_problems += _this_bundle(folder, walk.chained[-1][0], problems)
    problems += [(CHAIN_FILE, p) for p in chain_problems]
    entries_dir = folder / ENTRIES_DIR
    if entries_dir.is_dir():
        for path in sorted(entries_dir.glob("*-*.*")):
            name = f"{ENTRIES_DIR}/{path.name}"
            if path.name.startswith(("entry-", "chain-")) and name not in listed:
                problems.append((name, f"is not listed in {CHAIN_FILE}"))
    if not chain_problems:
        written = _read(folder, TIMELINE_FILE, problems)
        expected = timeline(report_id, manifest, records, chained).encode("utf-8")
        if written is not None and written != expected:
            problems.append((TIMELINE_FILE, "does not match the chain and the manifest"))
    return problems


# The checks of this part; `intake verify` runs them (review/evidence/verify.py CHECKS).
CHECKS: Final[tuple[Callable[[Path], list[Problem]], ...]] = (check_custody_chain,)
