"""The entries of a report's own chain of custody (issue 19, item 4): their form and checks.

Each entry about reports in the audit trail (review/audit.py) also writes, in the same
transaction, one entry per report it concerns into that report's own chain:

    {"format": "incident-intake/custody-chain/v1", "report": id, "n": 1, 2, 3...,
     "prev": SHA-256 of the report's entry n-1 (64 zeros for n = 1),
     "at": the server's clock (UTC, to the second; never before the report's previous entry),
     "actor", "action", "details": this report's part only (its own item numbers),
     "legacy": [SHA-256 of each audit_log entry about the report written before its chain
                began, in trail order]                                       (n = 1 only)}

canonical JSON (sorted keys, no spaces, ASCII), signed with the custody key. A bundle carries
its report's chain whole: n runs from 1 without a gap and each prev is the previous entry's
hash, so dropping or reordering any entry shows (review/custody/verify.py). Nothing in it names
another report, another channel, or the audit trail's global numbering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

CHAIN_FORMAT: Final = "incident-intake/custody-chain/v1"
GENESIS: Final = "0" * 64
_FIELDS: Final = frozenset({"format", "report", "n", "prev", "at", "actor", "action", "details"})


@dataclass(frozen=True)
class CustodyEntry:
    report: str
    n: int
    prev: str
    at: str
    actor: str
    action: str
    details: dict[str, Any]
    # Only in a report's first entry: the hashes of its audit_log entries from before.
    legacy: tuple[str, ...] | None = None


def encode_custody(entry: CustodyEntry) -> bytes:
    fields: dict[str, Any] = {
        "format": CHAIN_FORMAT, "report": entry.report, "n": entry.n, "prev": entry.prev,
        "at": entry.at, "actor": entry.actor, "action": entry.action, "details": entry.details,
    }
    if entry.legacy is not None:
        fields["legacy"] = list(entry.legacy)
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")


def decode_custody(encoded: bytes) -> CustodyEntry:
    """The entry; ValueError for bytes that are not one of ours."""
    try:
        fields = json.loads(encoded)
    except RecursionError:
        raise ValueError("nested too deeply to be a custody entry") from None
    if not isinstance(fields, dict) or not _FIELDS <= set(fields) <= _FIELDS | {"legacy"}:
        raise ValueError("not a custody chain entry")
    if fields["format"] != CHAIN_FORMAT:
        raise ValueError(f"not a {CHAIN_FORMAT} entry")
    legacy = fields.get("legacy")
    if not (
        isinstance(fields["report"], str) and isinstance(fields["n"], int)
        and not isinstance(fields["n"], bool) and fields["n"] >= 1
        and isinstance(fields["prev"], str) and isinstance(fields["at"], str)
        and isinstance(fields["actor"], str) and isinstance(fields["action"], str)
        and isinstance(fields["details"], dict)
        and (legacy is None or (isinstance(legacy, list)
                                and all(isinstance(h, str) for h in legacy)))
    ):
        raise ValueError("a custody chain entry with a field of the wrong type")
    return CustodyEntry(
        fields["report"], fields["n"], fields["prev"], fields["at"], fields["actor"],
        fields["action"], fields["details"], None if legacy is None else tuple(legacy),
    )
