"""A report's chain of custody: the audit entries about it, as bundle files anyone can check.

The audit trail is one hash chain over every entry of the store (review/audit.py). A report's
chain is the subsequence about that report: its own entries (accesses, exports, re-encryption,
triage), and the batches of `intake keys rewrap` that re-wrapped its items (a batch names each
item as [SHA-256 of the report id, seq], so it hands out no other report's id). Each entry is put
in the bundle as the exact canonical bytes that were hashed and signed:

    custody/chain.jsonl          one line per entry, in trail order: seq, prev (the SHA-256 of
                                 the entry before it in the whole trail), entry_sha256, the
                                 entry itself (canonical JSON, as a string), its Ed25519
                                 signature (base64), and the two files below
    custody/entry-NNNNNNNN.json   the entry's bytes, for `openssl pkeyutl -verify -rawin`
    custody/entry-NNNNNNNN.sig    its 64-byte signature by the custody key (custody.pub.pem)
    custody/timeline.txt         the same, readable: received (day and hashes, from the signed
                                 manifest), then each event with its time, actor and items

Entries of other reports stay out (they would name other reports); where the subsequence skips
some, an entry's `prev` is the hash of an entry not shown, and its place in the whole chain is
its seq and prev. Consecutive entries link: the next one's prev is this one's SHA-256.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol, runtime_checkable

from review.audit import BATCH_ACTIONS, AuditEntry, decode_entry, report_ref
from review.custody.access import record_access
from storage import StoredReport
from storage.audit import AuditRecord

CHAIN_FILE: Final = "custody/chain.jsonl"
TIMELINE_FILE: Final = "custody/timeline.txt"
ENTRIES_DIR: Final = "custody"


@runtime_checkable
class CustodyChainSource(Protocol):
    """A backend that hands out a report's audit entries (LocalBackend and RemoteBackend)."""

    async def custody_records(self, report_id: str) -> list[AuditRecord]: ...


def concerns(entry: AuditEntry, report_id: str) -> bool:
    """Whether an audit entry is about `report_id` (its own, or a batch naming its items).

    The store indexes entries by the same rule (review.audit.concerned_refs); this one stays
    the judge of what goes into a chain and what a bundle's verifier accepts."""
    if entry.report_id == report_id:
        return True
    if entry.report_id is None and entry.action in BATCH_ACTIONS:
        # Details that are no object are malformed, and concern no report.
        listed = entry.details.get("items", []) if isinstance(entry.details, dict) else []
        ref = report_ref(report_id)
        return isinstance(listed, list) and any(
            isinstance(pair, list) and pair[:1] == [ref] for pair in listed
        )
    return False


def report_records(records: Sequence[AuditRecord], report_id: str) -> list[AuditRecord]:
    """The records of the whole trail that concern `report_id`, in trail order."""
    found = []
    for record in records:
        try:
            entry = decode_entry(record.entry)
        except (ValueError, TypeError):
            continue  # `intake audit verify` names a malformed entry; it concerns no report
        if concerns(entry, report_id):
            found.append(record)
    return found


def custody_leaves(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The bundle's entry files: each is an audit entry's exact bytes, so a leaf of its day's
    Merkle tree (review/evidence/anchor.py), and the export adds its inclusion proof."""
    return {
        name: data for name, data in files.items()
        if name.startswith(f"{ENTRIES_DIR}/entry-") and name.endswith(".json")
    }


def entry_file(seq: int) -> str:
    return f"{ENTRIES_DIR}/entry-{seq:08d}.json"


def signature_file(seq: int) -> str:
    return f"{ENTRIES_DIR}/entry-{seq:08d}.sig"


def chain_line(record: AuditRecord) -> dict[str, Any]:
    entry = decode_entry(record.entry)
    return {
        "seq": record.seq,
        "prev": entry.prev,
        "entry_sha256": record.entry_hash,
        "entry": record.entry.decode("ascii"),
        "signature": base64.b64encode(record.signature).decode("ascii"),
        "entry_file": entry_file(record.seq),
        "signature_file": signature_file(record.seq),
    }


def chain_files(report: StoredReport, records: Sequence[AuditRecord]) -> dict[str, bytes]:
    """The custody/ files of a bundle for `report` from its audit records (pure)."""
    files: dict[str, bytes] = {}
    lines = []
    for record in records:
        lines.append(json.dumps(chain_line(record), sort_keys=True, separators=(",", ":")))
        files[entry_file(record.seq)] = record.entry
        files[signature_file(record.seq)] = record.signature
    files[CHAIN_FILE] = "".join(f"{line}\n" for line in lines).encode("ascii")
    files[TIMELINE_FILE] = timeline(report.summary.report_id, report.manifest, records).encode(
        "utf-8"
    )
    return files


def timeline(report_id: str, manifest: bytes, records: Sequence[AuditRecord]) -> str:
    """The readable custody timeline; rebuilt by the verifier, so it cannot drift from the
    signed files it is made of (the manifest and the entries)."""
    try:
        document = json.loads(manifest)
        received, items = document["received_day"], document["items"]
    except (ValueError, KeyError, TypeError):
        received, items = "(unknown day)", []
    lines = [
        f"Chain of custody of report {report_id}",
        "",
        f"{received}  received; the server signed the custody record "
        "(manifest.json, signature manifest.sig) with these payload SHA-256:",
    ]
    for item in items:
        lines.append(f"    item {item.get('seq')} ({item.get('role')}): "
                     f"{item.get('payload_sha256')}")
    lines.append("")
    for record in records:
        entry = decode_entry(record.entry)
        details = json.dumps(entry.details, sort_keys=True, separators=(",", ":"))
        lines.append(f"{entry.at}  #{entry.seq}  {entry.actor}  {entry.action}  {details}")
    lines += [
        "",
        "Each event is an entry of the server's audit trail: custody/entry-NNNNNNNN.json is",
        "its exact signed bytes, .sig its Ed25519 signature by the key in custody.pub.pem:",
        "  openssl pkeyutl -verify -pubin -inkey custody.pub.pem -rawin \\",
        "    -in custody/entry-NNNNNNNN.json -sigfile custody/entry-NNNNNNNN.sig",
        "sha256sum of an entry file is its entry_sha256 in custody/chain.jsonl, and the prev of",
        "the entry numbered one higher, when that entry is here too.",
        "",
    ]
    return "\n".join(lines)


async def custody_files(backend: object, report: StoredReport) -> dict[str, bytes]:
    """Record the export of every item of `report`, then return its custody/ files.

    The export is recorded first so that the bundle's chain ends with the export itself.
    """
    report_id = report.summary.report_id
    await record_access(
        backend, report_id, "exported", items=[item.seq for item in report.items]
    )
    if not isinstance(backend, CustodyChainSource):
        raise TypeError(f"{type(backend).__name__} cannot hand out custody records")
    return chain_files(report, up_to_export(await backend.custody_records(report_id), report_id))


def up_to_export(records: Sequence[AuditRecord], report_id: str) -> list[AuditRecord]:
    """The records up to the last export of the report: events that others recorded between
    this export and the fetch (another reviewer opening it) belong to a later bundle."""
    for end in range(len(records), 0, -1):
        entry = decode_entry(records[end - 1].entry)
        if entry.action == "access.exported" and entry.report_id == report_id:
            return list(records[:end])
    return list(records)
