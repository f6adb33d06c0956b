"""An evidence bundle for lawyers and investigators, checkable with standard tools only.

`intake review export ID --out DIR --identity KEY --to WHOM` writes, for one report:

    sealed/NN-role.age        the original sealed files (standard age files: header + payload)
    originals/NN-...          the decrypted answers and attachments, as the witness sent them
    working-copies/NN-...     decrypted metadata-stripped copies, named after their original
    report.txt                the answers as a reviewer reads them (INTAKE_REVIEWER_LANGUAGE)
    manifest.json, manifest.sig   the server's custody record and its Ed25519 signature
    custody.pub.pem           the server's custody public key
    disclosure.key            a throwaway age identity made for this bundle alone
    disclosure/NN-role.header each item's header re-wrapped to it: with `age -d -i disclosure.key`
                              anyone opens the sealed payloads without a reviewer key
    hashes.json               per item: payload SHA-256 (as in the custody record), plaintext
                              SHA-256, header length, and where each file is in the bundle
    timestamps/               the manifest's inclusion proof in its day's Merkle tree, the
                              day's root and RFC 3161 tokens (review/evidence/bundle.py)
    verify_merkle.py          checks the inclusion proofs, Python standard library only
    SHA256SUMS                every file above, for `sha256sum -c`
    VERIFY.txt                how to check all of it with sha256sum, openssl, age and python3

The format is specified in docs/evidence-bundle.md; `intake verify DIR` checks a bundle.

Decryption happens here, on the reviewer's machine; the backend only hands out ciphertext.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crypto
from review.answers import Labels
from review.custody.access import SUMS_FILE, check_transfer, record_transfer
from review.custody.bundle import evidence_files
from review.custody.chain import custody_leaves
from review.evidence.bundle import TimestampSource, finish_bundle, timestamp_files
from review.local import ReviewError
from review.render import attachment_file_name, report_lines, terminal_safe
from review.tools import CustodySource, custody_holds, opened_report, public_key_from_pem
from storage import ItemRole, StoredItem


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    files: int
    custody_valid: bool


def _plain_name(item: StoredItem, facts: dict[int, dict[str, Any]]) -> str:
    if item.role is ItemRole.ANSWERS:
        return f"{item.seq:02d}-answers.json"
    fact = facts.get(item.seq if item.parent_seq is None else item.parent_seq, {})
    # With its extension: a photo sent without a file name is still 01-photo.jpg.
    return attachment_file_name(item.seq, fact, item.role.value)


def _folder_for(item: StoredItem) -> str:
    return "working-copies" if item.role is ItemRole.WORKING_COPY else "originals"


async def export_report(
    backend: CustodySource, report_id: str, out_dir: Path, identities: list[crypto.Identity],
    labels: Labels | None = None, evidence: TimestampSource | None = None,
    transfer_to: str | None = None,
) -> ExportResult:
    """Write the bundle into `out_dir` (created; must be empty or absent).

    `evidence` (the server's evidence tables, when exporting on the server) adds timestamps/;
    without it the bundle says the manifest's timestamp could not be included. `transfer_to`
    (who receives the bundle) is recorded once it is written, with the SHA-256 of its
    SHA256SUMS (review/custody/access.py record_transfer).
    """
    check_empty(out_dir)
    if transfer_to is not None:
        check_transfer(transfer_to)
    report = await backend.get_report(report_id)
    pem = await backend.custody_public_pem()
    payloads = {item.seq: await backend.read_payload(report_id, item.seq) for item in report.items}
    plain = {s: crypto.open_bytes(i.header, payloads[s], identities)
             for s, i in ((i.seq, i) for i in report.items)}
    payload_hashes = {s: hashlib.sha256(p).hexdigest() for s, p in payloads.items()}
    valid = custody_holds(report, payload_hashes, public_key_from_pem(pem))
    opened = opened_report(report, plain, valid)
    facts = {a.seq: a.facts for a in opened.attachments}

    # The report as `intake review show` prints it, labels in the reviewer's language, the
    # witness's words escaped (review/render.py); originals/ keeps the sealed document itself.
    reading = [f"Report {report_id}, received {report.summary.received_day}",
               *report_lines(opened, labels or Labels()), ""]
    files: dict[str, bytes] = {
        "report.txt": terminal_safe("\n".join(reading)).encode("utf-8"),
        "manifest.json": report.manifest,
        "manifest.sig": report.manifest_signature,
        "custody.pub.pem": pem,
    }
    # The examiner has no reviewer key: a fresh identity, shipped in the clear, opens this
    # bundle's copies of the headers; the sealed files stay as stored (their headers' MACs,
    # timestamped, pin the file key: docs/evidence-bundle.md).
    disclosure = crypto.generate_identity()
    files["disclosure.key"] = (
        "# This bundle's disclosure identity: it opens the items of this bundle only\n"
        f"# public key: {disclosure.recipient}\n{disclosure}\n").encode("ascii")
    entries = []
    headers: dict[str, bytes] = {}
    for item in report.items:
        sealed_name = f"sealed/{item.seq:02d}-{item.role.value}.age"
        disclosure_name = f"disclosure/{item.seq:02d}-{item.role.value}.header"
        plain_name = f"{_folder_for(item)}/{_plain_name(item, facts)}"
        files[sealed_name] = item.header + payloads[item.seq]
        files[disclosure_name] = crypto.rewrap(item.header, identities, [disclosure.recipient])
        headers[sealed_name] = item.header
        files[plain_name] = plain[item.seq]
        entries.append({
            "seq": item.seq,
            "role": item.role.value,
            "parent_seq": item.parent_seq,
            "sealed_file": sealed_name,
            "disclosure_header": disclosure_name,
            "decrypted_file": plain_name,
            "header_bytes": len(item.header),
            "payload_size": len(payloads[item.seq]),
            "payload_sha256": payload_hashes[item.seq],
            "plaintext_sha256": hashlib.sha256(plain[item.seq]).hexdigest(),
            # What the bot recorded inside the sealed answers when the witness sent the file.
            "witness_side_sha256": facts.get(item.seq, {}).get("sha256"),
        })
    # Records the export, naming this bundle's disclosure recipient (it ties the export entry
    # to this bundle: docs/custody-chain.md); adds custody/, processing/ and the collection
    # report (review/custody).
    files.update(await evidence_files(
        backend, report, plain, str(disclosure.recipient)))
    files["hashes.json"] = json.dumps(
        {"report": report_id, "custody_signature_valid": valid, "items": entries},
        indent=2, sort_keys=True,
    ).encode("utf-8") + b"\n"
    # The custody manifest's place in a timestamped daily tree, and each custody chain entry's
    # (those of days already anchored); more parts join here.
    files.update(await timestamp_files(
        evidence, {"manifest.json": report.manifest, **custody_leaves(files)}, headers,
        report.summary.channel,
    ))
    finish_bundle(files)

    _write_bundle(out_dir, files)
    if transfer_to is not None:
        await record_transfer(backend, report_id, transfer_to, files[SUMS_FILE])
    return ExportResult(out_dir, len(files), valid)


def check_empty(out_dir: Path) -> None:
    """The bundle goes into a new or empty folder, never over other files."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ReviewError(f"{out_dir} is not empty: export into a new folder")


def _write_bundle(out_dir: Path, files: dict[str, bytes]) -> None:
    # Decrypted evidence: readable by this user only.
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    folders = {p for name in files for p in Path(name).parents if p != Path(".")}
    for folder in sorted(folders, key=lambda p: len(p.parts)):
        (out_dir / folder).mkdir(exist_ok=True, mode=0o700)
    for name, data in files.items():
        target = out_dir / name
        target.write_bytes(data)
        target.chmod(0o600)

