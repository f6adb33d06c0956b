"""`intake verify`'s verdict: the checks, then what the pinned anchors let it say.

The checks (verify.py) find what changed since export; they can only compare the bundle with
itself. The verdict adds what comes from outside: whether custody.pub.pem is a custody key the
examiner pinned, and which RFC 3161 tokens chain to a TSA CA the examiner pinned. From those
tokens alone it states, for every item, the earliest proven time beside the claimed receipt day.

    OK               0  every check passed, the custody key and at least one token are anchored
    FAILED           1  a check failed (the bundle changed, was forged, or holds no plain files)
    UNANCHORED       3  no custody key or no TSA CA pinned: the bundle vouches for itself
    NOT TIMESTAMPED  4  anchors pinned, but no token over the manifest chains to a pinned CA
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from review.custody.verify import OLD_EXPORT_WARNING, chain_warnings
from review.evidence.anchors import Anchors, certificate_fingerprints, custody_fingerprint
from review.evidence.bundle import PROOFS
from review.evidence.disclosure import Disclosed, check_disclosure, compare, disclose
from review.evidence.reading import Unreadable, read_small, scan
from review.evidence.renewal_check import Renewals
from review.evidence.tsa import TsaFailure, token_expiry, verify_response
from review.evidence.verify import CHECKS, MALFORMED, Problem, verify_bundle

OK, FAILED, UNANCHORED, NOT_TIMESTAMPED = "OK", "FAILED", "UNANCHORED", "NOT TIMESTAMPED"
EXIT_CODES = {OK: 0, FAILED: 1, UNANCHORED: 3, NOT_TIMESTAMPED: 4}
_UNREADABLE: tuple[type[Exception], ...] = (*MALFORMED, Unreadable)


@dataclass(frozen=True)
class ItemTime:
    seq: int
    role: str
    claimed_day: str
    proven_at: dt.datetime | None
    authority: str | None
    # What the sealed payload decrypts to with disclosure.key (disclosure.py), and when the
    # sealed header, whose MAC pins the file key, was first proven (None: not in a tree yet).
    decrypted_file: str | None = None
    decrypted_sha256: str | None = None
    header_proven_at: dt.datetime | None = None
    # How the proof still holds though its authority's certificate has expired since: the
    # renewal chain (renewal.py); None when it was not needed.
    renewed: str | None = None

    def gap(self) -> dt.timedelta | None:
        """How long after the end of the claimed receipt day the item was first proven."""
        if self.proven_at is None:
            return None
        day_end = dt.datetime.combine(
            dt.date.fromisoformat(self.claimed_day) + dt.timedelta(days=1), dt.time(), dt.UTC)
        return self.proven_at - day_end


@dataclass
class Verdict:
    status: str
    problems: list[Problem] = field(default_factory=list)
    reasons: list[Problem] = field(default_factory=list)  # why unanchored / not timestamped
    warnings: list[str] = field(default_factory=list)
    items: list[ItemTime] = field(default_factory=list)
    custody_fingerprint: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


def _json(folder: Path, name: str) -> Any:
    try:
        return json.loads(read_small(folder, name))
    except (ValueError, RecursionError):
        raise Unreadable(name, "is not valid JSON") from None


def _custody_anchor(folder: Path, anchors: Anchors) -> tuple[str | None, list[Problem]]:
    try:
        fingerprint = custody_fingerprint(read_small(folder, "custody.pub.pem"))
    except (Unreadable, ValueError):
        return None, []  # the checks name it
    if not anchors.custody_pinned or fingerprint in anchors.accepted_custody():
        return fingerprint, []
    return fingerprint, [("custody.pub.pem", (
        f"is not a pinned custody key: its fingerprint is {fingerprint}, the pinned ones are "
        f"{', '.join(sorted(anchors.custody_fingerprints))} (nor is it linked to one by a "
        "rotation signed by both keys); whoever signed this bundle is not the organisation "
        "whose key you pinned"))]


def _anchored_tokens(
    folder: Path, day: str, anchors: Anchors, reasons: list[Problem], renewals: Renewals
) -> list[tuple[dt.datetime, str, str]]:
    """(genTime, authority, renewal) of each token of `day` that chains to a pinned CA and
    still proves its time: its authority's certificate valid now, or renewed before it
    expired ("" or the renewal chain)."""
    where = f"timestamps/{dt.date.fromisoformat(day).isoformat()}"
    document = _json(folder, f"{where}/day.json")
    root = read_small(folder, f"{where}/root.bin")
    day_ends = dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=1),
                                   dt.time(), dt.UTC)
    found = []
    for token in document.get("tokens", []) if isinstance(document, dict) else []:
        name = f"{where}/{token.get('response')}"
        try:
            gen_time = verify_response(read_small(folder, name), root, anchors.tsa_ca_pem)
        except (TsaFailure, ValueError, Unreadable) as failure:
            reasons.append((name, _not_anchored(folder, where, token, failure)))
            continue
        if gen_time < day_ends:
            reasons.append((name, f"is dated {gen_time.isoformat()}, before its day ended"))
            continue
        expiry = token_expiry(read_small(folder, name))
        renewed = renewals.holds(f"{where}/root.bin", name, expiry)
        if renewed is None:
            reasons.append((name, f"its authority's certificate expired {expiry} and no "
                            "renewal made before then covers it: it no longer proves its time "
                            "(the server runs `intake evidence renew` before certificates "
                            "expire)"))
            continue
        found.append((gen_time, str(token.get("authority", "?")), renewed))
    return found


def _not_anchored(folder: Path, where: str, token: dict[str, Any], failure: Exception) -> str:
    own = ""
    try:
        bundled = read_small(folder, f"{where}/{token.get('ca_certificates')}")
        own = "; the CA it names: " + ", ".join(
            f"{subject} (SHA-256 {print_})" for subject, print_ in
            certificate_fingerprints(bundled))
    except (Unreadable, ValueError):
        pass
    return f"does not chain to a pinned TSA CA ({failure}){own}"


def _item_times(
    folder: Path, anchors: Anchors, reasons: list[Problem], found: list[Disclosed]
) -> list[ItemTime]:
    manifest = _json(folder, "manifest.json")
    proofs = [p for p in _json(folder, PROOFS) if isinstance(p, dict)]
    by_day: dict[str, list[tuple[dt.datetime, str, str]]] = {}
    at = anchors.at or dt.datetime.now(dt.UTC)
    renewals = Renewals(folder, anchors.tsa_ca_pem, at, reasons) if anchors.tsa_pinned else None

    def earliest(wanted: Callable[[dict[str, Any]], bool]
                 ) -> tuple[dt.datetime, str, str] | None:
        tokens: list[tuple[dt.datetime, str, str]] = []
        for day in sorted({str(p.get("day")) for p in proofs if wanted(p)}):
            if day not in by_day:
                by_day[day] = (_anchored_tokens(folder, day, anchors, reasons, renewals)
                               if renewals is not None else [])
            tokens += by_day[day]
        return min(tokens, default=None)

    first = earliest(lambda p: p.get("file") == "manifest.json" and "bytes" not in p)
    hashes = {int(e["seq"]): e for e in _json(folder, "hashes.json").get("items", [])}
    disclosed = {d.seq: d for d in found}
    claimed = str(manifest.get("received_day"))
    items = []
    for i in manifest.get("items", []):
        seq = int(i["seq"])
        sealed = hashes.get(seq, {}).get("sealed_file")
        def is_header(proof: dict[str, Any], name: object = sealed) -> bool:
            return proof.get("file") == name and "bytes" in proof

        header = earliest(is_header)
        opened = disclosed.get(seq)
        items.append(ItemTime(
            seq, str(i["role"]), claimed, first[0] if first else None,
            first[1] if first else None, opened.decrypted_file if opened else None,
            opened.sha256 if opened else None, header[0] if header else None,
            first[2] or None if first else None))
    return items


def examine(folder: Path, anchors: Anchors) -> Verdict:
    """Check the bundle, then judge it against the pinned anchors."""
    refused = scan(folder, anchors.max_file_size).refused
    if refused:
        return Verdict(FAILED, refused)
    # Every check but the disclosure one, which runs here once: it decrypts every payload, and
    # what it finds is also what the verdict prints per item.
    problems = verify_bundle(folder, checks=[c for c in CHECKS if c is not check_disclosure])
    found: list[Disclosed] = []
    try:
        found, disclosure_problems = disclose(folder)
        disclosure_problems += compare(folder, found)
    except Unreadable as unreadable:
        disclosure_problems = [unreadable.problem]
    except MALFORMED as error:
        disclosure_problems = [("(disclosure)", f"could not be checked: {type(error).__name__}")]
    problems += [p for p in disclosure_problems if p not in problems]
    fingerprint, custody = _custody_anchor(folder, anchors)
    problems += custody
    verdict = Verdict(FAILED, problems, custody_fingerprint=fingerprint)
    # An old export entry names no bundle: a cut back to it cannot show (custody/verify.py).
    verdict.warnings += chain_warnings(folder)
    try:
        verdict.items = _item_times(folder, anchors, verdict.reasons, found)
    except _UNREADABLE:
        verdict.items = []  # the checks name the file
    for item in verdict.items:
        gap = item.gap()
        if gap is not None and gap > anchors.max_gap:
            verdict.warnings.append(
                f"item {item.seq:02d} ({item.role}) was first proven {_duration(gap)} after its "
                f"claimed receipt day {item.claimed_day} ended (limit {_duration(anchors.max_gap)}"
                "): that it arrived on that day is the server's word only")
    if problems:
        return verdict
    if not anchors.custody_pinned:
        verdict.reasons.insert(0, ("custody.pub.pem", "no custody key is pinned (--custody-key, "
                                   "--custody-fingerprint or the anchors file)"))
    if not anchors.tsa_pinned:
        verdict.reasons.insert(0, ("timestamps/", "no TSA CA certificate is pinned (--tsa-ca or "
                                   "the anchors file)"))
    if not anchors.custody_pinned or not anchors.tsa_pinned:
        verdict.status = UNANCHORED
    elif not verdict.items or any(i.proven_at is None for i in verdict.items):
        if not any(name.endswith(".tsr") for name, _ in verdict.reasons):
            verdict.reasons.append((PROOFS, "holds no token over manifest.json: nothing in this "
                                    "bundle proves when it existed"))
        verdict.status = NOT_TIMESTAMPED
    else:
        verdict.status = OK
    return verdict


def chain_warnings_of(verdict: Verdict) -> list[str]:
    """The verdict's warnings about the custody chain's completeness (custody/verify.py)."""
    return [w for w in verdict.warnings if w == OLD_EXPORT_WARNING]


def _duration(delta: dt.timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h"


def summary(verdict: Verdict) -> list[str]:
    """What `intake verify` prints after the problems: the verdict and what it rests on."""
    lines = [f"WARNING  {w}" for w in verdict.warnings]
    for item in verdict.items:
        proven = (f"proven to exist by {item.proven_at.isoformat()} ({item.authority})"
                  if item.proven_at else "time not proven")
        lines.append(f"item {item.seq:02d} {item.role}: claimed received {item.claimed_day}; "
                     f"{proven}")
        if item.renewed:
            lines.append(f"  the authority's certificate has expired since: the proof holds as "
                         f"RENEWED ({item.renewed})")
        if item.decrypted_sha256 is not None:
            key = (f"its file key fixed by {item.header_proven_at.isoformat()} (sealed header "
                   "timestamped)" if item.header_proven_at else
                   "its sealed header is not in a timestamped tree")
            lines.append(f"  decrypts with disclosure.key to {item.decrypted_file}, SHA-256 "
                         f"{item.decrypted_sha256}; {key}")
    if verdict.status == FAILED:
        return lines
    label = "NOTE" if verdict.status == OK else verdict.status
    lines += [f"{label}  {name}: {why}" for name, why in verdict.reasons]
    if verdict.status == UNANCHORED:
        lines.append("UNANCHORED: the bundle vouches for itself. Every file is as exported, but "
                     "only the keys inside the bundle say so; pin the organisation's custody key "
                     "and the authority's CA to know who signed and when.")
    elif verdict.status == NOT_TIMESTAMPED:
        lines.append("NOT TIMESTAMPED: the custody signature is the pinned key's, but no token "
                     "from a pinned authority proves when any of this existed. Not OK.")
    else:
        lines += _ok_text(verdict)
    return lines


def _ok_text(verdict: Verdict) -> list[str]:
    chain_limited = bool(chain_warnings_of(verdict))
    earliest = min(i.proven_at for i in verdict.items if i.proven_at is not None)
    return [
        "OK  Proven, against the anchors you pinned:",
        f"  - the custody manifest and each sealed payload it lists (size, SHA-256) were signed "
        f"by the pinned custody key {verdict.custody_fingerprint}",
        f"  - they existed by {earliest.isoformat()}, on the word of a pinned time-stamp "
        "authority (RFC 3161 token over the day's Merkle root)",
        "  - each decrypted file is exactly what its sealed payload decrypts to, under the file "
        "key its sealed header's MAC commits to (printed per item above)",
        "  - the chain of custody (custody/) is signed by the same key, " + (
            "complete up to this export (its last entry names this bundle's disclosure key)"
            if not chain_limited else "complete up to the export it ends with") +
        "; the items' folders hold only the items hashes.json names",
        "  Not proven:",
        *(["  - that the export the chain ends with made this bundle: that entry is from before "
           "exports named their bundle, so later accesses may have been cut off (WARNING above)"]
          if chain_limited else []),
        *(["  - that the file key of items " + ", ".join(
            f"{i.seq:02d}" for i in verdict.items if i.header_proven_at is None) +
           " was fixed by a proven time: their sealed headers are in no timestamped tree "
           "(re-wrapped since, or anchored before headers were leaves)"]
          if any(i.header_proven_at is None for i in verdict.items) else []),
        "  - when within its day, or whether on the day claimed, a report arrived: only that it "
        "existed by the time above",
        "  - when, where or on what device a photo or text was captured: there is no "
        "capture-time device attestation (docs/threat-model.md)",
        "  - that the account is true, or that nothing was withheld from the server's records",
        "  - that report.txt, collection.txt, collection.json and processing/ say what the "
        "originals hold: they are written at export and nothing signed or timestamped covers "
        "them (SHA256SUMS and VERIFY.txt can be rewritten by anyone); the witness's own words "
        "are originals/NN-answers.json, checked above",
    ]
