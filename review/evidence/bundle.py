"""The bundle's evidence parts: timestamps/, verify_merkle.py, SHA256SUMS and VERIFY.txt.

`timestamp_files` gives, for files of the bundle that are leaves of a day's tree (the custody
manifest; others may pass more), the day's root, the RFC 3161 responses over it with the CA
certificates they were verified against, and each file's inclusion proof. `finish_bundle` adds
the script, the checksums and the instructions last; VERIFY.txt is a pure function of the
other files, so `intake verify` regenerates it and compares. Format: docs/evidence-bundle.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from crypto import merkle
from review.custody.instructions import verify_lines as custody_verify_lines
from review.evidence.renewal import verify_lines as renewal_verify_lines
from storage.evidence import DayRecord, LeafRecord
from storage.models import LEGACY_TREE
from storage.renewals import RenewalRecord

SCRIPT = "verify_merkle.py"
PROOFS = "timestamps/proofs.json"
SUMS = "SHA256SUMS"
VERIFY = "VERIFY.txt"
SCRIPT_BYTES = Path(__file__).with_name(SCRIPT).read_bytes()

# Other parts of the bundle add their instructions to VERIFY.txt here, one function each. Each
# must be a pure function of the bundle's files, so that `intake verify` can rebuild VERIFY.txt.
VERIFY_SECTIONS: list[Callable[[Mapping[str, bytes]], list[str]]] = [
    renewal_verify_lines, custody_verify_lines]


class TimestampSource(Protocol):
    """What the export needs from the evidence tables (storage.evidence.EvidenceRepository)."""

    async def leaf(self, leaf_hash: str) -> tuple[dt.date, LeafRecord] | None: ...

    async def day(self, day: dt.date, channel: str = ...) -> DayRecord | None: ...

    async def leaf_hashes(self, day: dt.date, channel: str = ...) -> list[str]: ...

    async def renewal_chain(self, channel: str) -> list[RenewalRecord]: ...


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode("utf-8") + b"\n"


async def timestamp_files(
    source: TimestampSource | None, leaves: Mapping[str, bytes],
    headers: Mapping[str, bytes] | None = None, channel: str | None = None,
) -> dict[str, bytes]:
    """timestamps/ for the bundle files in `leaves` (name -> content) that a tree holds, and for
    the sealed files in `headers` (name -> its header) whose header, the file's first bytes, is
    a leaf: such a proof names the file and `bytes`, the length of the leaf at its start.

    Only trees of the report's `channel` are used (and those built before trees were per
    channel): a proof from another tree would carry another channel's hashes and counts."""
    proofs: list[dict[str, Any]] = []
    files: dict[str, bytes] = {}
    used: dict[tuple[str, dt.date], DayRecord] = {}
    wanted: list[tuple[str, bytes, int | None]] = [
        (name, data, None) for name, data in sorted(leaves.items())]
    wanted += [(name, data, len(data)) for name, data in sorted((headers or {}).items())]
    for name, data, prefix in wanted:
        leaf = merkle.leaf_hash(data).hex()
        found = None if source is None else await source.leaf(leaf)
        if found is None or source is None or found[1].channel not in (channel, LEGACY_TREE):
            continue
        record = await source.day(found[0], found[1].channel)
        if record is None:
            continue
        hashes = await source.leaf_hashes(record.day, record.channel)
        index = hashes.index(leaf)
        path = merkle.inclusion_proof([bytes.fromhex(h) for h in hashes], index)
        proof = {"file": name, "day": record.day.isoformat(), "leaf_index": index,
                 "tree_size": len(hashes), "leaf_hash": leaf, "path": [p.hex() for p in path]}
        proofs.append(proof if prefix is None else {**proof, "bytes": prefix})
        files.update(_day_files(record))
        used[record.channel, record.day] = record
    if source is not None:
        from review.evidence.renewal import renewal_files

        for tree_channel in sorted({c for c, _ in used}):
            trees = [r for (c, _), r in sorted(used.items()) if c == tree_channel]
            files.update(renewal_files(await source.renewal_chain(tree_channel), trees))
    files[PROOFS] = _json(proofs)
    return files


def _day_files(record: DayRecord) -> dict[str, bytes]:
    folder = f"timestamps/{record.day.isoformat()}"
    files = {f"{folder}/root.bin": bytes.fromhex(record.root)}
    tokens = []
    for n, token in enumerate(record.tokens, start=1):
        files[f"{folder}/tsa-{n}.tsr"] = token.response
        files[f"{folder}/tsa-{n}-ca.pem"] = token.ca_pem
        tokens.append({"response": f"tsa-{n}.tsr", "ca_certificates": f"tsa-{n}-ca.pem",
                       "authority": token.tsa, "gen_time": token.gen_time.isoformat()})
    files[f"{folder}/day.json"] = _json({"day": record.day.isoformat(), "root": record.root,
                                         "leaf_count": record.leaf_count, "tokens": tokens})
    return files


def sums_listing(files: Mapping[str, bytes]) -> bytes:
    """The canonical SHA256SUMS: every file but itself and VERIFY.txt, sorted by name."""
    return "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n"
        for name, data in sorted(files.items()) if name not in (SUMS, VERIFY)
    ).encode("utf-8")


def finish_bundle(files: dict[str, bytes]) -> None:
    """Add the Merkle script, SHA256SUMS and VERIFY.txt (in that order: each covers the last)."""
    files[SCRIPT] = SCRIPT_BYTES
    files[SUMS] = sums_listing(files)
    files[VERIFY] = verify_text(files).encode("utf-8")


def verify_text(files: Mapping[str, bytes], sums_digest: str | None = None) -> str:
    """VERIFY.txt, from hashes.json, timestamps/ and SHA256SUMS alone (so it can be rebuilt).

    `sums_digest` replaces SHA256SUMS's actual digest: the verifier rebuilds the text with the
    digest VERIFY.txt states, to tell a changed SHA256SUMS from a changed VERIFY.txt.
    """
    hashes = json.loads(files["hashes.json"])
    proofs = json.loads(files.get(PROOFS, b"[]"))
    if sums_digest is None:
        sums_digest = hashlib.sha256(files.get(SUMS, b"")).hexdigest()
    lines = [
        f"Evidence bundle for report {hashes['report']}",
        "The format and what each check proves: docs/evidence-bundle.md of incident-intake;",
        "`intake verify .` runs every check below and names any file that fails.",
        "",
        "1. Nothing in this folder changed since export. SHA256SUMS lists every file except",
        "   itself and this one; its own SHA-256 is:",
        f"     {sums_digest}  SHA256SUMS",
        "     sha256sum SHA256SUMS",
        "     sha256sum -c SHA256SUMS",
        "",
        "2. The server signed the custody record (sizes and SHA-256 of each sealed payload) when",
        "   the report arrived. A key inside this folder proves nothing by itself: anyone can",
        "   make a key and sign a made-up report. First compare custody.pub.pem with the",
        "   fingerprint the organisation publishes (on its website, in its reports; not here):",
        "     openssl pkey -pubin -in custody.pub.pem -outform DER | sha256sum",
        f"   # {_custody_print(files)}",
        "   only if that is the published fingerprint, check the signature with it:",
        "     openssl pkeyutl -verify -pubin -inkey custody.pub.pem -rawin \\",
        "       -in manifest.json -sigfile manifest.sig",
        "",
        "3. Each sealed file is the age header followed by the payload named in manifest.json;",
        "   the payload's SHA-256 must equal its payload_sha256 there:",
    ]
    for e in hashes["items"]:
        lines.append(
            f"     tail -c +{e['header_bytes'] + 1} {e['sealed_file']} | sha256sum"
            f"   # {e['payload_sha256']}"
        )
    lines += [
        "",
        "4. Without a reviewer key: disclosure.key is an age identity made for this bundle, and",
        "   disclosure/ holds each item's header re-wrapped to it. Put that header before the",
        "   sealed payload and stock age decrypts it; the SHA-256 must be the decrypted file's:",
        *_disclosure_lines(hashes["items"]),
        "   `intake verify` also checks that the file key disclosure.key gives is the one the",
        "   sealed file's own header was made with (its MAC is keyed from the file key, and the",
        "   header is in a timestamped tree): no other key can decrypt that payload to other",
        "   bytes and pass (docs/evidence-bundle.md, \"Plaintext bound to the proof\").",
        "",
        *_timestamp_lines(files, proofs),
        *(line for section in VERIFY_SECTIONS for line in section(files)),
        "hashes.json lists, per item, the plaintext SHA-256 and, for attachments, the SHA-256",
        "the bot recorded inside the sealed answers when the witness sent the file. Working",
        "copies (working-copies/) are metadata-stripped copies; parent_seq names their original.",
        "",
    ]
    return "\n".join(lines)


def _disclosure_lines(items: list[dict[str, Any]]) -> list[str]:
    lines = []
    for e in items:
        if "disclosure_header" not in e:
            continue
        lines += [f"     tail -c +{e['header_bytes'] + 1} {e['sealed_file']} | \\",
                  f"       cat {e['disclosure_header']} - | age -d -i disclosure.key | \\",
                  f"       sha256sum   # {e['plaintext_sha256']}  {e['decrypted_file']}"]
    return lines


def _timestamp_lines(files: Mapping[str, bytes], proofs: list[dict[str, Any]]) -> list[str]:
    if not proofs:
        return ["5. Trusted time: the custody record was not in a timestamped daily tree yet when",
                "   this bundle was exported (days are anchored after they end); export again",
                "   later to include the proof.", ""]
    lines = [
        "5. Trusted time. Once a day the server puts that day's custody records and audit",
        "   entries into a Merkle tree (RFC 6962) and has its root timestamped by RFC 3161",
        "   time-stamp authorities. The inclusion proof shows manifest.json is in the tree",
        "   whose root is timestamps/DAY/root.bin; its leaf hash is",
        "     (printf '\\000'; cat manifest.json) | sha256sum",
        "   and verify_merkle.py recomputes each path up to the root. The script is a",
        "   convenience shipped inside this bundle, so read it before relying on it (about 80",
        "   lines, Python standard library only; the tree is RFC 6962, section 2.1):",
        "     python3 verify_merkle.py",
        "   Each authority's token shows that root existed at the token's time. Check it against",
        "   the CA certificate you obtained from the authority itself, saved as tsa-ca.pem next",
        "   to this file, never against the copies in timestamps/ (anyone can make a look-alike",
        "   authority). Its fingerprint, to compare with the one the authority publishes:",
        "     openssl x509 -in tsa-ca.pem -noout -fingerprint -sha256",
        *(f"   # {subject}: {print_}" for subject, print_ in _ca_prints(files)),
        "   then:",
    ]
    days = sorted({str(p["day"]) for p in proofs})
    for day in days:
        tokens = sorted(n for n in files if n.startswith(f"timestamps/{day}/")
                        and n.endswith(".tsr"))
        for token in tokens:
            lines += [f"     openssl ts -verify -in {token} \\",
                      f"       -data timestamps/{day}/root.bin -CAfile tsa-ca.pem"]
        if not tokens:
            lines.append(f"     (the tree of {day} was still waiting for an authority's token)")
    lines += ["   The token's time is when the root, and so manifest.json, existed at the latest;",
              "   `intake verify` prints it for each item beside the claimed receipt day.", ""]
    return lines


def _custody_print(files: Mapping[str, bytes]) -> str:
    from review.evidence.anchors import custody_fingerprint

    try:
        return custody_fingerprint(files["custody.pub.pem"])
    except (KeyError, ValueError):
        return "(custody.pub.pem is missing or not an Ed25519 key)"


def _ca_prints(files: Mapping[str, bytes]) -> list[tuple[str, str]]:
    """The distinct CA certificates the bundle's tokens were checked against on arrival."""
    from review.evidence.anchors import certificate_fingerprints

    found: dict[str, str] = {}
    for name in sorted(files):
        if name.startswith("timestamps/") and name.endswith("-ca.pem"):
            try:
                found.update((p, s) for s, p in certificate_fingerprints(files[name]))
            except ValueError:
                continue
    return sorted((s, p) for p, s in found.items())
