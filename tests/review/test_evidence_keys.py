"""Forged keys and plaintext: a swapped attachment, a second file key for the same ciphertext
(stock age is fooled, intake verify is not), and a custody key rotation that keeps old bundles
verifying while a forger's "rotation" is refused."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import crypto
from cli.main import main
from crypto._seal import _build_header
from crypto.custody import custody_public_pem, rotation_record, sign_manifest
from review.evidence.anchors import AnchorError, load_anchors
from review.evidence.verdict import FAILED, OK, examine
from storage import Storage
from tests.review.forgery_support import (
    copy_of,
    exported,
    hashes_of,
    pins_for,
    reasons,
    reseal,
    resign,
    strip_tokens,
    two_key_payload,
    verify_cli,
    write_hashes,
)
from tests.review.tsa import LocalTsa, local_tsa, tsa_pki
from tests.support import skip_or_fail

__all__ = ["local_tsa", "tsa_pki"]  # fixtures


async def test_a_swapped_attachment_is_named(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    forged = copy_of(bundle, tmp_path, "swapped")
    document = hashes_of(forged)
    photo = next(e for e in document["items"] if e["role"] == "attachment")
    other = b"\xff\xd8\xff another photo \xff\xd9"
    (forged / photo["decrypted_file"]).write_bytes(other)
    photo["plaintext_sha256"] = hashlib.sha256(other).hexdigest()
    photo["witness_side_sha256"] = photo["plaintext_sha256"]
    write_hashes(forged, document)
    reseal(forged)
    verdict = examine(forged, pins_for(anchored, local_tsa.pki, tmp_path))
    assert verdict.status == FAILED
    assert [n for n, _ in verdict.problems] == [photo["decrypted_file"]]
    assert "is not what its sealed file decrypts to with disclosure.key" in reasons(verdict)


async def test_a_second_file_key_that_decrypts_the_same_ciphertext_is_refused(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    """An insider seals a payload that decrypts under two keys (a Poly1305 multi-key collision)
    with a header made for the first, then discloses the second: stock age shows other bytes,
    and only the sealed header's MAC, keyed from the file key, tells which key was sealed."""
    if shutil.which("age") is None:
        skip_or_fail("age is not installed")
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    forged = copy_of(bundle, tmp_path, "two-keys")
    key_1, key_2, payload = two_key_payload()
    document = hashes_of(forged)
    entry = next(e for e in document["items"] if e["role"] == "attachment")
    sealed_header = _build_header(key_1, [anchored.reviewer.recipient])
    (forged / entry["sealed_file"]).write_bytes(sealed_header + payload)
    disclosure = crypto.parse_identities((forged / "disclosure.key").read_text())[0]
    assert isinstance(disclosure, crypto.X25519Identity)
    (forged / entry["disclosure_header"]).write_bytes(
        _build_header(key_2, [disclosure.recipient]))
    shown = crypto.open_bytes(_build_header(key_2, [disclosure.recipient]), payload,
                              [disclosure])
    sealed = crypto.open_bytes(sealed_header, payload, [anchored.reviewer])
    assert shown != sealed
    (forged / entry["decrypted_file"]).write_bytes(shown)
    manifest = json.loads((forged / "manifest.json").read_bytes())
    item = next(i for i in manifest["items"] if i["seq"] == entry["seq"])
    item["payload_size"], item["payload_sha256"] = len(payload), hashlib.sha256(
        payload).hexdigest()
    (forged / "manifest.json").write_bytes(
        json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("ascii"))
    entry.update(header_bytes=len(sealed_header), payload_size=len(payload),
                 payload_sha256=item["payload_sha256"],
                 plaintext_sha256=hashlib.sha256(shown).hexdigest())
    write_hashes(forged, document)
    strip_tokens(forged, proofs_too=True)  # the insider's new manifest is in no tree
    resign(forged, anchored.custody_key)  # the insider holds the custody key
    reseal(forged)

    # Stock age, with the disclosure identity, "confirms" the forged bytes.
    opened = subprocess.run(
        ["sh", "-c", f"tail -c +{len(sealed_header) + 1} {entry['sealed_file']} | cat "
                     f"{entry['disclosure_header']} - | age -d -i disclosure.key"],
        cwd=forged, capture_output=True, check=False, timeout=60)
    assert opened.returncode == 0 and opened.stdout == shown
    verdict = examine(forged, pins_for(anchored, local_tsa.pki, tmp_path))
    assert verdict.problems == [(entry["disclosure_header"], verdict.problems[0][1])]
    assert "a second key made to decrypt the same ciphertext" in verdict.problems[0][1]


async def test_a_rotated_custody_key_keeps_old_bundles_verifying(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    """`intake evidence rotate-custody-key` links the new key to the old one, signed by both;
    an examiner who pins the new key and has the published rotations accepts old bundles."""
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    keys = tmp_path / "data" / "keys"
    keys.mkdir(parents=True)
    (keys / "custody.key").write_bytes(anchored.custody_key)
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["evidence", "rotate-custody-key"],
        env={"INTAKE_DATA_DIR": str(tmp_path / "data")}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    new_key = (keys / "custody.key").read_bytes()
    assert new_key != anchored.custody_key and len(new_key) == 32
    assert (keys / "custody.key").stat().st_mode & 0o077 == 0
    published = tmp_path / "new-custody.pub.pem"
    published.write_bytes(custody_public_pem(new_key))
    rotations = keys / "custody-rotations.jsonl"
    pins = load_anchors(custody_key_files=[published], custody_rotations=[rotations],
                        tsa_ca_files=[local_tsa.pki.ca_cert])
    assert examine(bundle, pins).status == OK
    code, out = await verify_cli(str(bundle), "--custody-key", str(published),
                                  "--custody-rotations", str(rotations),
                                  "--tsa-ca", str(local_tsa.pki.ca_cert))
    assert code == 0, out
    # Without the rotations the old key is just another key.
    alone = load_anchors(custody_key_files=[published], tsa_ca_files=[local_tsa.pki.ca_cert])
    assert "is not a pinned custody key" in reasons(examine(bundle, alone))

    # A forger's "rotation" to their own key, without the organisation's signature, is refused.
    forger = secrets.token_bytes(32)
    line = json.loads(rotation_record(forger, new_key, "2026-01-01"))
    line["next_signature"] = sign_manifest(forger, line["statement"].encode()).hex()
    fake = tmp_path / "fake-rotations.jsonl"
    fake.write_text(json.dumps(line) + "\n")
    with pytest.raises(AnchorError, match="not a rotation signed by both keys"):
        load_anchors(custody_key_files=[published], custody_rotations=[fake])
