"""The audit trail's entries as stored: their fields, their canonical bytes, and which reports
each one concerns (what the store indexes it under).

Shared by the trail that writes entries (review/audit.py), the check that reads them back
(review/audit_verify.py) and the chains of custody built from them (review/custody/).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

# What the first entry of the trail names as the entry before it.
GENESIS = "0" * 64
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
