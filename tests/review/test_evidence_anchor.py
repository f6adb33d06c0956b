"""Trusted time end to end: reports on two days, a real RFC 3161 TSA (openssl ts -reply),
anchoring, an exported bundle that openssl, the shipped script and `intake verify` accept."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import crypto
from bot.sealing import ItemSealer
from cli.config import ConfigError, Settings
from cli.evidence_commands import periodic_anchoring
from cli.main import main
from crypto import merkle
from crypto.custody import ManifestEntry, canonical_manifest, sign_manifest
from review.evidence.verify import verify_bundle
from storage import ItemRole, Storage
from tests.review.evidence_support import DAY_1, DAY_2, at, two_days_anchored
from tests.review.sealed_reports import sealed_report
from tests.review.tsa import LocalTsa, TsaPki, local_tsa, openssl, tsa_pki

__all__ = ["local_tsa", "tsa_pki"]  # fixtures


def _run(args: list[str], folder: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, cwd=folder, capture_output=True, check=False, timeout=60)


def _flip(path: Path, offset: int = 10) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


async def test_bundle_timestamp_verifies_with_openssl_the_script_and_intake_verify(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    anchored = await two_days_anchored(storage, local_tsa)
    assert anchored.first_run.built == [DAY_1, DAY_2]
    assert anchored.first_run.anchored == [DAY_1, DAY_2]
    days = {d.day: d for d in await storage.evidence.days()}
    # DAY_1: the manifest, three item headers, an audit entry; DAY_2: a manifest, its header.
    assert (days[DAY_1].leaf_count, days[DAY_2].leaf_count) == (5, 2)

    bundle = await anchored.export(tmp_path / "bundle")
    folder = f"timestamps/{DAY_1}"
    token, root_file, ca = f"{folder}/tsa-1.tsr", f"{folder}/root.bin", f"{folder}/tsa-1-ca.pem"
    checked = _run([openssl(), "ts", "-verify", "-in", token, "-data", root_file, "-CAfile", ca],
                   bundle)
    assert checked.returncode == 0 and b"Verification: OK" in checked.stdout, checked.stderr
    script = _run([sys.executable, "verify_merkle.py"], bundle)
    assert script.returncode == 0, script.stdout
    assert f"OK      manifest.json in the tree of {DAY_1}" in script.stdout.decode()
    assert verify_bundle(bundle) == []
    # The other report's manifest is in the other day's tree.
    other = await anchored.export(tmp_path / "other", anchored.report_2)
    assert json.loads((other / "timestamps/proofs.json").read_bytes())[0]["day"] == str(DAY_2)

    # One byte of the manifest changed: the script, intake verify and openssl all refuse it.
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    _flip(tampered / "manifest.json")
    script = _run([sys.executable, "verify_merkle.py"], tampered)
    assert script.returncode == 1
    assert f"FAILED  manifest.json in the tree of {DAY_1}" in script.stdout.decode()
    assert "manifest.json" in {name for name, _ in verify_bundle(tampered)}
    proof = json.loads((tampered / "timestamps/proofs.json").read_bytes())[0]
    leaf = merkle.leaf_hash((tampered / "manifest.json").read_bytes())
    rebuilt = merkle.root_from_proof(proof["leaf_index"], proof["tree_size"], leaf,
                                     [bytes.fromhex(p) for p in proof["path"]])
    assert rebuilt is not None
    refused = _run([openssl(), "ts", "-verify", "-in", token, "-digest",
                    hashlib.sha256(rebuilt).hexdigest(), "-CAfile", ca], tampered)
    assert refused.returncode != 0 and b"Verification: OK" not in refused.stdout


def _intake(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


async def test_tsa_down_queues_the_day_shows_it_overdue_and_anchors_when_back(
    storage: Storage, tsa_pki: TsaPki, tmp_path: Path, database_url: str
) -> None:
    tsa = LocalTsa(tsa_pki)  # not started: nothing answers on its port
    anchored = await two_days_anchored(storage, tsa)
    run = anchored.first_run
    assert run.built == [DAY_1, DAY_2] and run.anchored == []
    assert run.failed == [(DAY_1, "unreachable"), (DAY_2, "unreachable")]
    env = {"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_DATABASE_URL": database_url,
           "INTAKE_TSA_URLS": tsa.url, "INTAKE_TSA_CA_FILES": str(tsa_pki.ca_cert)}
    status = await asyncio.to_thread(_intake, ["evidence", "status"], env)
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert lines[0].startswith(f"{DAY_1}      5 leaves  QUEUED")
    assert "overdue" in lines[0] and "last failure: unreachable" in lines[0]
    assert "2 day(s) queued" in status.output and "intake evidence anchor" in status.output

    # Retried with back-off: not before the next attempt is due.
    assert (await anchored.anchorer.run_once()).failed == []
    await tsa.start()
    try:
        anchored.clock.now += dt.timedelta(minutes=6)
        assert (await anchored.anchorer.run_once()).anchored == [DAY_1, DAY_2]
        status = await asyncio.to_thread(_intake, ["evidence", "status"], env)
        assert f"{DAY_1}      5 leaves  anchored by {tsa.url}" in status.output
        assert "queued" not in status.output.lower()
        again = await asyncio.to_thread(_intake, ["evidence", "anchor"], env)
        assert again.exit_code == 0 and tsa.requests == 2  # nothing left to timestamp
    finally:
        await tsa.stop()


async def test_late_reports_and_resigned_manifests_go_into_the_next_tree(
    storage: Storage, local_tsa: LocalTsa
) -> None:
    anchored = await two_days_anchored(storage, local_tsa)
    day_3 = DAY_2 + dt.timedelta(days=1)
    # A report of DAY_2 that committed after DAY_2's tree was built, and an addition that
    # re-signs the DAY_1 report's manifest.
    late = await sealed_report(storage, anchored.custody_key, [anchored.reviewer.recipient],
                               day=DAY_2)
    report = await storage.reports.get(anchored.report_1)
    assert report is not None
    recipients = [anchored.reviewer.recipient]
    sealer = ItemSealer(storage.blobs, recipients, (crypto.key_id(recipients[0]),))
    seq = await storage.additions.next_seq(anchored.report_1)
    added = await sealer.seal(seq, ItemRole.ADDITION, b"one more thing")
    entries = [ManifestEntry(i.seq, i.role.value, i.payload_size, i.payload_sha256)
               for i in (*report.items, added)]
    manifest = canonical_manifest(anchored.report_1, str(DAY_1), entries)
    await storage.additions.append(anchored.report_1, report.manifest, (added,), manifest,
                                   sign_manifest(anchored.custody_key, manifest),
                                   submission_key=b"\x02" * 32, day=day_3)

    anchored.clock.now = at(day_3, 12)  # day 3 not closed yet: nothing is built
    assert (await anchored.anchorer.run_once()).built == []
    anchored.clock.now = at(day_3 + dt.timedelta(days=1), 0, 59)  # within the grace
    assert (await anchored.anchorer.run_once()).built == []
    anchored.clock.now = at(day_3 + dt.timedelta(days=1), 1, 0)
    run = await anchored.anchorer.run_once()
    assert run.built == [day_3] and run.anchored == [day_3]
    leaves = await storage.evidence.leaf_hashes(day_3)
    # The late report's manifest and header, the re-signed manifest, the added item's header.
    assert sorted(leaves) == leaves and len(leaves) == 4
    late_report = await storage.reports.get(late)
    assert late_report is not None
    assert merkle.leaf_hash(late_report.manifest).hex() in leaves
    assert merkle.leaf_hash(manifest).hex() in leaves
    day_1 = await storage.evidence.day(DAY_1)
    assert day_1 is not None and day_1.leaf_count == 5  # the old tree is as it was


async def test_a_failed_round_logs_one_line_naming_the_fix(
    storage: Storage, tsa_pki: TsaPki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="intake.evidence")
    await two_days_anchored(storage, LocalTsa(tsa_pki))  # nothing listens
    delayed = [r for r in caplog.records if r.msg.startswith("evidence.anchor_delayed")]
    assert len(delayed) == 2 and all(r.__dict__["reason"] == "unreachable" for r in delayed)
    assert "INTAKE_TSA_URLS" in delayed[0].msg and "\n" not in delayed[0].msg


def test_authorities_without_ca_certificates_are_refused_with_the_fix(tmp_path: Path) -> None:
    settings = Settings(tsa_urls="https://tsa.example/tsr", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="INTAKE_TSA_CA_FILES is not set"):
        settings.tsa_configs()
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    with pytest.raises(ConfigError, match="INTAKE_TSA_CA_FILES: cannot use"):
        Settings(tsa_urls="https://tsa.example/tsr", tsa_ca_files=str(not_pem)).tsa_configs()
    with pytest.raises(ConfigError, match=r"^INTAKE_TSA_URLS 'ftp://[^']+' is not an http\(s\)"):
        Settings(tsa_urls="ftp://tsa.example")


async def test_intake_serve_anchors_in_the_background(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    """The task `intake serve` runs: closed days get built and timestamped without a command."""
    custody_key = b"\x01" * 32
    reviewer = crypto.generate_identity()
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
    await sealed_report(storage, custody_key, [reviewer.recipient], day=yesterday)
    settings = Settings(tsa_urls=local_tsa.url, tsa_ca_files=str(local_tsa.pki.ca_cert),
                        data_dir=tmp_path)
    async with periodic_anchoring(settings, storage, interval=dt.timedelta(seconds=0.1)):
        for _ in range(100):
            day = await storage.evidence.day(yesterday)
            if day is not None and day.anchored:
                break
            await asyncio.sleep(0.1)
    assert day is not None and day.anchored and day.leaf_count == 2  # manifest and header
