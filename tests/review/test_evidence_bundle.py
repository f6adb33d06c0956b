"""A real anchored bundle: every single changed file is named by `intake verify`, and every
command VERIFY.txt shows runs as written with the real sha256sum, openssl, age and python3."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from crypto.custody import custody_public_pem
from review.evidence.anchors import custody_fingerprint
from review.evidence.verify import verify_bundle
from storage import Storage
from tests.review.evidence_support import two_days_anchored
from tests.review.tsa import LocalTsa, local_tsa, tsa_pki
from tests.support import skip_or_fail

__all__ = ["local_tsa", "tsa_pki"]  # fixtures


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


async def test_changing_any_single_file_makes_intake_verify_fail_and_name_it(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    anchored = await two_days_anchored(storage, local_tsa)
    bundle = await anchored.export(tmp_path / "bundle")
    assert verify_bundle(bundle) == []
    names = _files(bundle)
    assert {"SHA256SUMS", "VERIFY.txt", "hashes.json", "verify_merkle.py", "manifest.json",
            "timestamps/proofs.json", "timestamps/2026-11-20/tsa-1.tsr"} <= set(names)
    missed = []
    for name in names:
        size = (bundle / name).stat().st_size
        for offset in sorted({0, size // 2, size - 1}):
            copy = tmp_path / "copy"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(bundle, copy)
            data = bytearray((copy / name).read_bytes())
            data[offset] ^= 0x01
            (copy / name).write_bytes(bytes(data))
            named = {file for file, _ in verify_bundle(copy)}
            if name not in named:
                missed.append((name, offset, named))
    assert missed == []

    # A file added after export, and one removed, are named too.
    copy = tmp_path / "copy"
    (copy / "originals" / "extra.txt").write_bytes(b"added later")
    (copy / "report.txt").unlink()
    named = {file for file, _ in verify_bundle(copy)}
    assert {"originals/extra.txt", "report.txt"} <= named

    # The command line says the same, and fails.
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["verify", str(copy)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "FAILED  originals/extra.txt: is not listed in SHA256SUMS" in result.output
    unanchored = await asyncio.to_thread(
        CliRunner().invoke, main, ["verify", str(bundle)], catch_exceptions=False)
    assert unanchored.exit_code == 3 and "UNANCHORED" in unanchored.output


def _commands(verify_text: str) -> list[str]:
    """The shell commands of VERIFY.txt: indented lines, with `\\` continuations joined."""
    commands: list[str] = []
    pending = ""
    for line in verify_text.splitlines():
        if not line.startswith("     ") or re.fullmatch(r" +[0-9a-f]{64}  SHA256SUMS", line):
            continue
        text = pending + line.strip()
        if text.endswith("\\"):
            pending = text[:-1]
            continue
        pending = ""
        if text.split()[0] in ("sha256sum", "openssl", "tail", "age", "python3"):
            commands.append(text)
    return commands


async def test_every_command_of_verify_txt_runs_as_written(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    for tool in ("sha256sum", "openssl", "age", "python3", "tail", "cmp"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed")
    anchored = await two_days_anchored(storage, local_tsa)
    bundle = await anchored.export(tmp_path / "bundle")
    text = (bundle / "VERIFY.txt").read_text()
    commands = _commands(text)
    tools = {word for c in commands for word in c.split()}
    assert {"sha256sum", "openssl", "tail", "age", "python3"} <= tools
    assert sum(" disclosure.key" in c for c in commands) == 3  # answers, photo, working copy
    assert sum(c.startswith("openssl ts -verify") for c in commands) == 1
    (bundle / "key.txt").write_text(str(anchored.reviewer) + "\n")
    # The authority's CA as the examiner obtains it from the authority, not from the bundle.
    (bundle / "tsa-ca.pem").write_bytes(local_tsa.pki.ca_cert.read_bytes())
    published = custody_fingerprint(custody_public_pem(anchored.custody_key))
    stated = re.search(r"([0-9a-f]{64})  SHA256SUMS", text)
    assert stated is not None
    for command in commands:
        ran = subprocess.run(["sh", "-c", command], cwd=bundle, capture_output=True,
                             timeout=60, check=False)
        out = ran.stdout.decode()
        assert ran.returncode == 0, (command, out, ran.stderr)
        if command.startswith("openssl ts"):
            assert "Verification: OK" in out
        elif command.startswith("openssl pkey "):
            assert out.split()[0] == published
            assert f"# {published}" in text
        elif command.startswith("openssl x509"):
            fingerprint = out.strip().split("=", 1)[1]
            assert f": {fingerprint}" in text
        elif command.startswith("openssl pkeyutl"):
            assert "Verified Successfully" in out
        elif command.startswith("tail"):
            assert out.split()[0] == command.rsplit("# ", 1)[1].split()[0]
        elif command == "sha256sum SHA256SUMS":
            assert out.split()[0] == stated.group(1)
        elif command.startswith("python3"):
            assert "OK      manifest.json" in out
