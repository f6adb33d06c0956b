"""Checking renewals (renewal.py) in a bundle: their proofs, and what they let a token prove.

`check_renewals` is one of verify.py's checks: each renewal's inclusion proofs lead from the
leaf computed from the bundle's own files (never a stated hash) to its root.bin, and its token
timestamps that root. `Renewals` is the verdict's view: with only the pinned TSA CAs, it says
whether a token whose authority's certificate has expired by the time of the check is covered
by a renewal made before that expiry which itself still holds.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto import merkle
from review.evidence.reading import Unreadable, read_small, scan
from review.evidence.renewal import renewal_folders
from review.evidence.tsa import TsaFailure, token_expiry, verify_response

Problem = tuple[str, str]


@dataclass(frozen=True)
class Renewal:
    folder: str
    covers: frozenset[tuple[str, str]]  # (root file, token file) pairs whose proofs hold
    authority: str


def _document(folder: Path, where: str) -> dict[str, Any]:
    try:
        document = json.loads(read_small(folder, f"{where}/renewal.json"))
    except (ValueError, RecursionError):
        raise Unreadable(f"{where}/renewal.json", "is not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("covers"), list):
        raise Unreadable(f"{where}/renewal.json", "is not a renewal")
    return document


def _proven_covers(folder: Path, where: str, problems: list[Problem]) -> Renewal:
    document = _document(folder, where)
    root = read_small(folder, f"{where}/root.bin")
    covered = set()
    for cover in document["covers"]:
        names = cover.get("files") if isinstance(cover, dict) else None
        if not isinstance(names, list) or len(names) != 2:
            problems.append((f"{where}/renewal.json", "names a cover that is not two files"))
            continue
        leaf = merkle.leaf_hash(b"".join(read_small(folder, str(n)) for n in names))
        try:
            computed = merkle.root_from_proof(
                int(cover["leaf_index"]), int(document["leaf_count"]), leaf,
                [bytes.fromhex(p) for p in cover["path"]])
        except (KeyError, TypeError, ValueError, ArithmeticError):
            computed = None
        if computed != root or document.get("root") != root.hex():
            problems.append((f"{where}/renewal.json", f"its proof for {names[1]} does not lead "
                             "to the renewal's root.bin: the renewal does not cover it"))
            continue
        covered.add((str(names[0]), str(names[1])))
    return Renewal(where, frozenset(covered), str(document.get("authority", "?")))


def check_renewals(folder: Path) -> list[Problem]:
    """Each renewal's proofs hold and its token (against the certificates beside it) timestamps
    its root at the time renewal.json states; the pinned anchors are the verdict's business."""
    problems: list[Problem] = []
    for where in renewal_folders(scan(folder).files):
        _proven_covers(folder, where, problems)
        document = _document(folder, where)
        name = f"{where}/renewal.tsr"
        try:
            gen_time = verify_response(read_small(folder, name), read_small(
                folder, f"{where}/root.bin"), read_small(folder, f"{where}/renewal-ca.pem"))
        except (TsaFailure, ValueError) as failure:
            problems.append((name, f"is not a valid timestamp of root.bin ({failure})"))
            continue
        if gen_time.isoformat() != document.get("gen_time"):
            problems.append((f"{where}/renewal.json", f"states another time than {name}"))
    return problems


class Renewals:
    """The bundle's renewals judged against the pinned TSA CAs, as of `at`."""

    def __init__(self, folder: Path, tsa_ca_pem: bytes, at: dt.datetime,
                 reasons: list[Problem]) -> None:
        self._at = at
        self._reasons = reasons
        # Each renewal whose token chains to a pinned CA: (genTime, expiry, what it covers).
        self._valid: list[tuple[dt.datetime, dt.datetime | None, Renewal]] = []
        for where in renewal_folders(scan(folder).files):
            problems: list[Problem] = []
            try:
                renewal = _proven_covers(folder, where, problems)
                response = read_small(folder, f"{where}/renewal.tsr")
                gen_time = verify_response(response, read_small(folder, f"{where}/root.bin"),
                                           tsa_ca_pem)
            except (TsaFailure, ValueError, Unreadable) as failure:
                reasons.append((f"{where}/renewal.tsr", "does not chain to a pinned TSA CA "
                                f"({failure}): this renewal proves nothing"))
                continue
            except (KeyError, TypeError, AttributeError, RecursionError, ArithmeticError):
                reasons.append((f"{where}/renewal.json", "is not a renewal: it proves nothing"))
                continue
            self._valid.append((gen_time, token_expiry(response), renewal))

    def holds(self, root_file: str, token_file: str, expiry: dt.datetime | None,
              seen: frozenset[str] = frozenset()) -> str | None:
        """How the token still proves its time at `at` ("" when its certificate is still
        valid; the renewal chain otherwise), or None when it no longer does."""
        if expiry is None or self._at <= expiry:
            return ""
        for gen_time, renewal_expiry, renewal in self._valid:
            if (root_file, token_file) not in renewal.covers or gen_time >= expiry:
                continue
            if renewal.folder in seen:
                continue
            further = self.holds(f"{renewal.folder}/root.bin", f"{renewal.folder}/renewal.tsr",
                                 renewal_expiry, seen | {renewal.folder})
            if further is not None:
                said = f"renewed {gen_time.isoformat()} by {renewal.authority}"
                return f"{said}; {further}" if further else said
        return None
