"""Checks of a bundle's custody chain, for `intake verify`: `(folder) -> [(file, problem)]`.

Each returns one (file name relative to the bundle, problem) pair per failing file, and an
empty list when everything holds. They use the bundle's own files only (custody.pub.pem,
manifest.json, custody/): no server, no database, no key but the public one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from crypto.custody import verify_manifest
from review.audit import AuditEntry, decode_entry
from review.custody.chain import (
    CHAIN_FILE,
    ENTRIES_DIR,
    TIMELINE_FILE,
    concerns,
    entry_file,
    signature_file,
    timeline,
)
from review.local import ReviewError
from review.tools import public_key_from_pem
from storage.audit import AuditRecord

Problem = tuple[str, str]
_FIELDS: Final = ("seq", "prev", "entry_sha256", "entry", "signature")


def _read(folder: Path, name: str, problems: list[Problem]) -> bytes | None:
    try:
        return (folder / name).read_bytes()
    except FileNotFoundError:
        problems.append((name, "missing"))
    except OSError as error:
        problems.append((name, f"cannot be read: {error.strerror}"))
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
    if not isinstance(line["seq"], int) or len(signature) != 64:
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


def check_custody_chain(folder: Path) -> list[Problem]:
    """Each entry of custody/chain.jsonl: hashes to its entry_sha256 and to the next entry's
    prev when that one follows it directly, is signed by custody.pub.pem, is about this report,
    matches its entry files; the chain ends with this export; timeline.txt matches."""
    problems: list[Problem] = []
    key = _public_key(folder, problems)
    found = _report_id(folder, problems)
    chain = _read(folder, CHAIN_FILE, problems)
    if key is None or found is None or chain is None:
        return problems
    report_id, manifest = found
    chain_problems: list[str] = []
    records: list[AuditRecord] = []
    last: AuditEntry | None = None
    previous: tuple[int, str] | None = None
    listed: set[str] = set()
    unsigned = 0
    lines = chain.decode("ascii", "replace").splitlines()
    for n, text in enumerate(lines, start=1):
        parsed = _line(text)
        if parsed is None:
            chain_problems.append(f"line {n} is not a well-formed chain entry")
            continue
        line, entry, signature = parsed
        listed.update((entry_file(line["seq"]), signature_file(line["seq"])))
        decoded, problem = _check_entry(n, line, entry, signature, key, report_id)
        if problem is not None or decoded is None:
            chain_problems.append(problem or f"line {n} is broken")
            unsigned += problem is not None and "signature" in problem
            continue
        if previous is not None and decoded.seq <= previous[0]:
            chain_problems.append(f"entry {decoded.seq} (line {n}) is out of order")
        elif previous is not None and decoded.seq == previous[0] + 1 and (
            decoded.prev != previous[1]
        ):
            chain_problems.append(
                f"entry {decoded.seq} does not follow from entry {previous[0]}: its prev is "
                "not that entry's SHA-256"
            )
        previous = (decoded.seq, line["entry_sha256"])
        last = decoded
        records.append(AuditRecord(decoded.seq, entry, line["entry_sha256"], signature))
        for name, expected in ((entry_file(decoded.seq), entry),
                               (signature_file(decoded.seq), signature)):
            data = _read(folder, name, problems)
            if data is not None and data != expected:
                problems.append((name, f"differs from entry {decoded.seq} in {CHAIN_FILE}"))
    if lines and unsigned == len(lines):
        # Not one signature verifies: the key is what changed (or every entry was re-signed).
        return [*problems, ("custody.pub.pem", "no entry of the custody chain is signed by it")]
    if last is None or last.action != "access.exported" or last.report_id != report_id:
        chain_problems.append("the chain does not end with the export of this report")
    problems += [(CHAIN_FILE, p) for p in chain_problems]
    entries_dir = folder / ENTRIES_DIR
    if entries_dir.is_dir():
        for path in sorted(entries_dir.glob("entry-*")):
            name = f"{ENTRIES_DIR}/{path.name}"
            if name not in listed:
                problems.append((name, f"is not listed in {CHAIN_FILE}"))
    if not chain_problems:
        written = _read(folder, TIMELINE_FILE, problems)
        expected = timeline(report_id, manifest, records).encode("utf-8")
        if written is not None and written != expected:
            problems.append((TIMELINE_FILE, "does not match the chain and the manifest"))
    return problems


# The checks of this part; `intake verify` runs them (review/evidence/verify.py CHECKS).
CHECKS: Final[tuple[Callable[[Path], list[Problem]], ...]] = (check_custody_chain,)


def verify_lines(files: Mapping[str, bytes]) -> list[str]:
    """This part's instructions for VERIFY.txt (review.evidence.bundle.VERIFY_SECTIONS): a pure
    function of the bundle's files, so `intake verify` can rebuild the text."""
    if CHAIN_FILE not in files:
        return []
    chain = [json.loads(line) for line in files[CHAIN_FILE].decode("ascii").splitlines()]
    if not chain:
        return []
    last = chain[-1]
    lines = [
        "Chain of custody (custody/, docs/custody-chain.md of incident-intake): every event of",
        f"this report in the server's audit trail, {len(chain)} entries, ending with this export.",
        "Each entry is signed with the custody key, and hashes to its entry_sha256 in",
        "custody/chain.jsonl and to the prev of the entry numbered one higher; for example:",
        "     openssl pkeyutl -verify -pubin -inkey custody.pub.pem -rawin \\",
        f"       -in {last['entry_file']} -sigfile {last['signature_file']}",
        f"     sha256sum {last['entry_file']}   # {last['entry_sha256']}",
        "custody/timeline.txt lists the same events in words. collection.txt says how each file",
        "arrived and what the witness agreed to; processing/ records how each working copy",
        "was made.",
        "",
    ]
    return lines
