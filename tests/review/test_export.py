"""The evidence bundle verifies with standard tools only: sha256sum, openssl and age."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

import crypto
from review.audit import AuditTrail
from review.export import export_report
from review.local import LocalBackend, ReviewError
from storage import Storage
from tests.review.sealed_reports import sealed_report
from tests.support import skip_or_fail


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        skip_or_fail(f"{name} is not installed")
        raise AssertionError("unreachable")
    return found


def _run(args: list[str], folder: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, cwd=folder, capture_output=True, check=False, timeout=60)


async def _bundle(storage: Storage, tmp_path: Path) -> tuple[Path, crypto.X25519Identity, bytes]:
    custody_key = secrets.token_bytes(32)
    reviewer = crypto.generate_identity()
    photo = b"\xff\xd8\xff" + secrets.token_bytes(5000) + b"\xff\xd9"
    report_id = await sealed_report(storage, custody_key, [reviewer.recipient],
                                    attachments=[photo, b"%PDF-1.4 statement"],
                                    working_copies=True)
    backend = LocalBackend(storage, AuditTrail(storage.audit, custody_key), "alice",
                           custody_key=custody_key)
    out = tmp_path / "bundle"
    result = await export_report(backend, report_id, out, [reviewer])
    assert result.custody_valid
    return out, reviewer, photo


async def test_bundle_verifies_with_sha256sum_openssl_and_age(
    storage: Storage, tmp_path: Path
) -> None:
    """sha256sum -c passes, openssl verifies the custody signature, age opens the originals."""
    out, reviewer, photo = await _bundle(storage, tmp_path)
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    # The custody chain's entries are named by their place in the audit trail (here only the
    # export itself): see tests/review/test_custody_chain.py.
    entries = [n for n in names if n.startswith("custody/entry-")]
    assert [n.rsplit(".", 1)[1] for n in entries] == ["json", "sig"]
    names = [n for n in names if n not in entries]
    assert names == sorted([
        "custody/chain.jsonl", "custody/timeline.txt", "collection.json", "collection.txt",
        "processing/02-working-copy.json", "processing/04-working-copy.json",
        "SHA256SUMS", "VERIFY.txt", "custody.pub.pem", "hashes.json", "manifest.json",
        "manifest.sig", "originals/00-answers.json", "originals/01-f1.bin", "report.txt",
        "originals/03-f3.bin", "sealed/00-answers.age", "sealed/01-attachment.age",
        "sealed/02-working_copy.age", "sealed/03-attachment.age", "sealed/04-working_copy.age",
        "working-copies/02-f1.bin", "working-copies/04-f3.bin", "disclosure.key",
        *(f"disclosure/{n}.header" for n in ("00-answers", "01-attachment", "02-working_copy",
                                             "03-attachment", "04-working_copy")),
        # Not anchored yet (no evidence tables passed): an empty list of proofs, and the script.
        "timestamps/proofs.json", "verify_merkle.py",
    ])
    assert (out / "originals/01-f1.bin").read_bytes() == photo
    assert (out / "working-copies/02-f1.bin").read_bytes() == b"stripped:" + photo

    checked = _run([_tool("sha256sum"), "-c", "SHA256SUMS"], out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    verify = [_tool("openssl"), "pkeyutl", "-verify", "-pubin", "-inkey", "custody.pub.pem",
              "-rawin", "-in", "manifest.json", "-sigfile", "manifest.sig"]
    verified = _run(verify, out)
    assert verified.returncode == 0 and b"Verified Successfully" in verified.stdout

    hashes = json.loads((out / "hashes.json").read_text())
    manifest = {i["seq"]: i for i in json.loads((out / "manifest.json").read_bytes())["items"]}
    for entry in hashes["items"]:
        assert entry["payload_sha256"] == manifest[entry["seq"]]["payload_sha256"]
        tail = f"tail -c +{entry['header_bytes'] + 1} {entry['sealed_file']} | sha256sum"
        assert tail in (out / "VERIFY.txt").read_text()
        piped = _run(["sh", "-c", tail], out)
        assert piped.stdout.split()[0].decode() == entry["payload_sha256"]
    assert hashes["items"][1]["witness_side_sha256"] == hashes["items"][1]["plaintext_sha256"]
    assert hashes["items"][2]["parent_seq"] == 1

    key = tmp_path / "key.txt"
    key.write_text(str(reviewer) + "\n")
    opened = _run([_tool("age"), "-d", "-i", str(key), "sealed/01-attachment.age"], out)
    assert opened.returncode == 0 and opened.stdout == photo
    # Without a reviewer key: stock age, the bundle's disclosure identity and re-wrapped header
    # in front of the unchanged sealed payload.
    size = hashes["items"][1]["header_bytes"]
    disclosed = _run(["sh", "-c", f"tail -c +{size + 1} sealed/01-attachment.age | cat "
                      f"disclosure/01-attachment.header - | {_tool('age')} -d -i disclosure.key"],
                     out)
    assert disclosed.returncode == 0 and disclosed.stdout == photo, disclosed.stderr


async def test_tampering_is_caught_by_the_standard_tools(storage: Storage, tmp_path: Path) -> None:
    """One changed byte in a file or in the manifest fails sha256sum or openssl."""
    out, _reviewer, _photo = await _bundle(storage, tmp_path)
    sealed = out / "sealed/01-attachment.age"
    data = bytearray(sealed.read_bytes())
    data[-1] ^= 1
    sealed.write_bytes(bytes(data))
    assert _run([_tool("sha256sum"), "--quiet", "-c", "SHA256SUMS"], out).returncode != 0
    manifest = out / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"seq":1', b'"seq":7'))
    verify = [_tool("openssl"), "pkeyutl", "-verify", "-pubin", "-inkey", "custody.pub.pem",
              "-rawin", "-in", "manifest.json", "-sigfile", "manifest.sig"]
    assert _run(verify, out).returncode != 0


async def test_export_refuses_a_folder_with_files(storage: Storage, tmp_path: Path) -> None:
    """Exporting into a folder that already holds files is refused, so nothing is mixed."""
    out, reviewer, _photo = await _bundle(storage, tmp_path)
    report_id = json.loads((out / "hashes.json").read_text())["report"]
    backend = LocalBackend(storage, AuditTrail(storage.audit, b"\0" * 32), "alice",
                           custody_key=b"\0" * 32)
    with pytest.raises(ReviewError, match="not empty"):
        await export_report(backend, report_id, out, [reviewer])
