"""A report's chain of custody as bundle files anyone can check.

Each report has its own chain (review/custody/entries.py): entries n = 1, 2, 3..., each naming
the SHA-256 of the one before, all about this report only. Reports older than the chains also
have audit_log entries from before (review/audit.py: the subsequence of the whole trail about
the report, with gaps, numbered in the whole trail); the report's first chain entry lists their
SHA-256 (`legacy`), so they come along and none can be dropped unnoticed. Each entry is put in
the bundle as the exact canonical bytes that were hashed and signed:

    custody/chain.jsonl          one line per entry: first the legacy ones in trail order
                                 (seq, prev, ...), then the report's chain (n, prev, ...);
                                 each with entry_sha256, the entry itself (canonical JSON, as
                                 a string), its Ed25519 signature (base64), and its two files
    custody/chain-NNNNNN.json    a chain entry's bytes, for `openssl pkeyutl -verify -rawin`
    custody/chain-NNNNNN.sig     its 64-byte signature by the custody key (custody.pub.pem)
    custody/entry-NNNNNNNN.json  a legacy entry's bytes (NNNNNNNN: its place in the trail)
    custody/entry-NNNNNNNN.sig   its signature
    custody/timeline.txt         the same, readable: received (day and hashes, from the signed
                                 manifest), then each event with its time, actor and items
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

from review.audit import BATCH_ACTIONS, AuditEntry, decode_entry, report_ref
from review.custody.access import record_access
from review.custody.entries import CustodyEntry, decode_custody
from storage import StoredReport
from storage.audit import AuditRecord, AuditRepository, CustodyRecord

CHAIN_FILE: Final = "custody/chain.jsonl"
TIMELINE_FILE: Final = "custody/timeline.txt"
ENTRIES_DIR: Final = "custody"


@dataclass(frozen=True)
class CustodyChain:
    """A report's custody: audit_log entries from before its own chain, then the chain."""

    legacy: list[AuditRecord]
    entries: list[CustodyRecord]


@runtime_checkable
class CustodyChainSource(Protocol):
    """A backend that hands out a report's custody (LocalBackend and RemoteBackend)."""

    async def custody_chain(self, report_id: str) -> CustodyChain: ...


async def read_custody_chain(audit: AuditRepository, report_id: str) -> CustodyChain:
    """The report's own chain, and the legacy entries its first entry names (all the trail's
    entries about it while it has no chain yet), read through the index by report."""
    ref = bytes.fromhex(report_ref(report_id))
    entries = await audit.custody_chain(ref)
    legacy = report_records(await audit.entries_about(ref), report_id)
    if entries:
        try:
            named = set(decode_custody(entries[0].entry).legacy or ())
        except ValueError:
            named = set()
        legacy = [r for r in legacy if r.entry_hash in named]
    return CustodyChain(legacy, entries)


def concerns(entry: AuditEntry, report_id: str) -> bool:
    """Whether an audit entry is about `report_id` (its own, or a batch naming its items).

    The store indexes entries by the same rule (review.audit_entries.concerned_refs); this one
    stays the judge of what goes into a chain and what a bundle's verifier accepts."""
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
        if name.startswith((f"{ENTRIES_DIR}/entry-", f"{ENTRIES_DIR}/chain-"))
        and name.endswith(".json")
    }


def chain_entry_file(n: int) -> str:
    return f"{ENTRIES_DIR}/chain-{n:06d}.json"


def chain_signature_file(n: int) -> str:
    return f"{ENTRIES_DIR}/chain-{n:06d}.sig"


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


def custody_line(record: CustodyRecord) -> dict[str, Any]:
    entry = decode_custody(record.entry)
    return {
        "n": record.n,
        "prev": entry.prev,
        "entry_sha256": record.entry_hash,
        "entry": record.entry.decode("ascii"),
        "signature": base64.b64encode(record.signature).decode("ascii"),
        "entry_file": chain_entry_file(record.n),
        "signature_file": chain_signature_file(record.n),
    }


def chain_files(report: StoredReport, chain: CustodyChain) -> dict[str, bytes]:
    """The custody/ files of a bundle for `report` from its custody (pure)."""
    files: dict[str, bytes] = {}
    lines = []
    for record in chain.legacy:
        lines.append(json.dumps(chain_line(record), sort_keys=True, separators=(",", ":")))
        files[entry_file(record.seq)] = record.entry
        files[signature_file(record.seq)] = record.signature
    for entry in chain.entries:
        lines.append(json.dumps(custody_line(entry), sort_keys=True, separators=(",", ":")))
        files[chain_entry_file(entry.n)] = entry.entry
        files[chain_signature_file(entry.n)] = entry.signature
    files[CHAIN_FILE] = "".join(f"{line}\n" for line in lines).encode("ascii")
    files[TIMELINE_FILE] = timeline(
        report.summary.report_id, report.manifest, chain.legacy, chain.entries
    ).encode("utf-8")
    return files


def timeline(
    report_id: str, manifest: bytes, records: Sequence[AuditRecord],
    entries: Sequence[CustodyRecord] = (),
) -> str:
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
        lines.append(f"{entry.at}  trail #{entry.seq}  {entry.actor}  {entry.action}  {details}")
    for chained in entries:
        custody = decode_custody(chained.entry)
        details = json.dumps(custody.details, sort_keys=True, separators=(",", ":"))
        lines.append(f"{custody.at}  {custody.n}.  {custody.actor}  {custody.action}  {details}")
    lines += [
        "",
        "Each event is a signed entry: custody/chain-NNNNNN.json is the report's own chain",
        "(entry NNNNNN of this report; each names the SHA-256 of the one before, the first",
        "the entries from before the chain, custody/entry-NNNNNNNN.json, as its \"legacy\"),",
        "the .sig file its Ed25519 signature by the key in custody.pub.pem:",
        "  openssl pkeyutl -verify -pubin -inkey custody.pub.pem -rawin \\",
        "    -in custody/chain-000001.json -sigfile custody/chain-000001.sig",
        "sha256sum of an entry file is its entry_sha256 in custody/chain.jsonl, and the prev of",
        "the next entry of the chain.",
        "",
    ]
    return "\n".join(lines)


async def custody_files(
    backend: object, report: StoredReport, disclosure: str | None = None
) -> dict[str, bytes]:
    """Record the export of every item of `report`, then return its custody/ files.

    The export is recorded first so that the bundle's chain ends with the export itself. Its
    entry names `disclosure`, the bundle's disclosure recipient (age1...): that ties the entry
    to this bundle alone, so a chain cut back to an earlier export names another bundle.
    """
    report_id = report.summary.report_id
    await record_access(
        backend, report_id, "exported", items=[item.seq for item in report.items],
        disclosure=disclosure,
    )
    if not isinstance(backend, CustodyChainSource):
        raise TypeError(f"{type(backend).__name__} cannot hand out custody records")
    chain = await backend.custody_chain(report_id)
    return chain_files(report, CustodyChain(chain.legacy, up_to_export(chain.entries, disclosure)))


def export_disclosure(entry: CustodyEntry) -> str | None:
    """The disclosure recipient an export entry names (None: not an export, or an old one)."""
    if entry.action != "access.exported":
        return None
    named = entry.details.get("disclosure")
    return named if isinstance(named, str) else None


def up_to_export(
    entries: Sequence[CustodyRecord], disclosure: str | None = None
) -> list[CustodyRecord]:
    """The chain up to this bundle's export: the entry naming `disclosure`, so that concurrent
    exports of the report each end with their own (without `disclosure`, the last export).
    Events that others recorded between this export and the fetch (another reviewer opening
    it, another export) belong to a later bundle."""
    for end in range(len(entries), 0, -1):
        entry = decode_custody(entries[end - 1].entry)
        if entry.action == "access.exported" and (
            disclosure is None or export_disclosure(entry) == disclosure
        ):
            return list(entries[:end])
    return list(entries)
