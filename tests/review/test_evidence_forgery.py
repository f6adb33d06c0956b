"""Forged bundles, made the way an opposing expert would, each refused with its own reason.

The examiner pins the organisation's custody key and the authority's CA from outside the
bundle; everything else a forger can rewrite (SHA256SUMS, VERIFY.txt, the bundled keys and
CA certificates) is rewritten here before `intake verify` runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import subprocess
import threading
from pathlib import Path

import pytest

import crypto
from review.evidence.anchor import Anchorer, failure_fix
from review.evidence.anchors import Anchors, load_anchors
from review.evidence.tsa import TsaConfig
from review.evidence.verdict import FAILED, NOT_TIMESTAMPED, OK, UNANCHORED, Verdict, examine
from storage import Storage
from tests.review.evidence_support import recent_days
from tests.review.forgery_support import (
    DAY_1,
    backdated,
    backdated_pki,
    copy_of,
    exported,
    files_of,
    openssl_token,
    own_key_forgery,
    pins_for,
    reasons,
    reseal,
    strip_tokens,
    verify_cli,
)
from tests.review.sealed_reports import sealed_report
from tests.review.tsa import LocalTsa, local_tsa, make_tsa_pki, openssl, tsa_pki

__all__ = ["local_tsa", "tsa_pki"]  # fixtures



async def test_the_genuine_bundle_is_ok_only_with_pinned_anchors(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    pins = pins_for(anchored, local_tsa.pki, tmp_path)
    verdict = examine(bundle, pins)
    assert (verdict.status, verdict.problems, verdict.warnings) == (OK, [], [])
    # Every item: the claimed day beside the earliest proven time (the day after DAY_1).
    assert {i.claimed_day for i in verdict.items} == {DAY_1.isoformat()}
    assert all(i.proven_at is not None and i.proven_at.date() > DAY_1 for i in verdict.items)

    unpinned = examine(bundle, Anchors())
    assert unpinned.status == UNANCHORED and unpinned.exit_code == 3
    code, out = await verify_cli(str(bundle))
    assert code == 3 and "UNANCHORED: the bundle vouches for itself" in out and "OK" not in out
    code, out = await verify_cli(str(bundle), "--custody-key",
                                  str(tmp_path / "published-custody.pub.pem"),
                                  "--tsa-ca", str(local_tsa.pki.ca_cert))
    assert code == 0, out
    assert "OK  Proven, against the anchors you pinned" in out
    assert "Not proven" in out and "capture-time device attestation" in out
    assert f"claimed received {DAY_1.isoformat()}; proven to exist by" in out
    # What verify reports as decrypted is what is in the bundle, and what stock age gives.
    for entry in json.loads((bundle / "hashes.json").read_bytes())["items"]:
        digest = hashlib.sha256((bundle / entry["decrypted_file"]).read_bytes()).hexdigest()
        assert (f"decrypts with disclosure.key to {entry['decrypted_file']}, SHA-256 {digest}; "
                "its file key fixed by") in out
        opened = subprocess.run(
            ["sh", "-c", f"tail -c +{entry['header_bytes'] + 1} {entry['sealed_file']} | cat "
                         f"{entry['disclosure_header']} - | age -d -i disclosure.key"],
            cwd=bundle, capture_output=True, check=False, timeout=60)
        assert hashlib.sha256(opened.stdout).hexdigest() == digest, opened.stderr
    ran = subprocess.run(
        [openssl(), "ts", "-verify", "-in", f"timestamps/{DAY_1.isoformat()}/tsa-1.tsr",
         "-data", f"timestamps/{DAY_1.isoformat()}/root.bin", "-CAfile",
         str(local_tsa.pki.ca_cert)], cwd=bundle, capture_output=True, check=False, timeout=60)
    assert b"Verification: OK" in ran.stdout, ran.stderr

    # The same anchors from a config file, and a fingerprint instead of the key.
    config = tmp_path / "anchors.toml"
    fingerprint = verdict.custody_fingerprint
    config.write_text(f'custody_fingerprints = ["{fingerprint}"]\n'
                      f'tsa_ca_files = ["{local_tsa.pki.ca_cert}"]\nmax_gap_hours = 1\n')
    code, out = await verify_cli(str(bundle), "--anchors", str(config))
    # The tree of DAY_1 was timestamped today: more than a day after DAY_1 ended.
    assert code == 0 and "WARNING  item 00 (answers) was first proven 1d " in out


async def test_own_custody_key_is_refused_and_unpinned_is_never_ok(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    forged = copy_of(bundle, tmp_path, "forged")
    own_key_forgery(forged)
    # Self-consistent: without anchors every check passes, and the verdict says what that means.
    unpinned = examine(forged, Anchors())
    assert unpinned.problems == [] and unpinned.status == UNANCHORED
    pinned = examine(forged, pins_for(anchored, local_tsa.pki, tmp_path))
    assert pinned.status == FAILED
    assert pinned.problems == [("custody.pub.pem", pinned.problems[0][1])]
    assert "is not a pinned custody key" in pinned.problems[0][1]


async def test_look_alike_and_backdated_authorities_are_not_timestamps(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    pins = pins_for(anchored, local_tsa.pki, tmp_path)
    # Same names as the real test CA and TSA, its own keys.
    look_alike = backdated_pki(tmp_path / "look-alike")
    day = bundle / "timestamps" / DAY_1.isoformat()
    forged = copy_of(bundle, tmp_path, "look-alike-bundle")
    fday = forged / "timestamps" / DAY_1.isoformat()
    response = openssl_token(look_alike, (day / "root.bin").read_bytes(), tmp_path / "work")
    (fday / "tsa-1.tsr").write_bytes(response)
    (fday / "tsa-1-ca.pem").write_bytes(look_alike.ca_cert.read_bytes())
    document = json.loads((fday / "day.json").read_bytes())
    from review.evidence.tsa import verify_response

    gen_time = verify_response(response, (day / "root.bin").read_bytes(),
                               look_alike.ca_cert.read_bytes())
    document["tokens"][0]["gen_time"] = gen_time.isoformat()
    (fday / "day.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    reseal(forged)
    assert examine(forged, Anchors()).status == UNANCHORED  # consistent with itself
    verdict = examine(forged, pins)
    assert verdict.status == NOT_TIMESTAMPED and verdict.exit_code == 4
    assert "does not chain to a pinned TSA CA" in reasons(verdict)
    assert all(i.proven_at is None for i in verdict.items)

    # The same authority, 30 days back: before the day it claims to timestamp had even ended.
    old = copy_of(forged, tmp_path, "backdated-bundle")
    (old / "timestamps" / DAY_1.isoformat() / "tsa-1.tsr").write_bytes(
        backdated(response, look_alike, 30))
    document["tokens"][0]["gen_time"] = (gen_time - dt.timedelta(days=30)).isoformat()
    (old / "timestamps" / DAY_1.isoformat() / "day.json").write_text(
        json.dumps(document, indent=2, sort_keys=True) + "\n")
    reseal(old)
    back = examine(old, pins)
    assert back.status == FAILED
    assert "is dated before its day ended" in reasons(back)
    # Even were the examiner to pin the look-alike's CA, the backdated token proves nothing.
    tricked = examine(old, load_anchors(custody_fingerprints=[verdict.custody_fingerprint or ""],
                                        tsa_ca_files=[look_alike.ca_cert]))
    assert tricked.status == FAILED and "before its day ended" in reasons(tricked)


async def test_stripped_tokens_are_not_timestamped_never_ok(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    pins = pins_for(anchored, local_tsa.pki, tmp_path)
    for proofs_too in (False, True):
        forged = copy_of(bundle, tmp_path, f"stripped-{proofs_too}")
        strip_tokens(forged, proofs_too=proofs_too)
        verdict = examine(forged, pins)
        assert verdict.problems == [] and verdict.status == NOT_TIMESTAMPED, reasons(verdict)
        key = tmp_path / "published-custody.pub.pem"
        code, out = await verify_cli(str(forged), "--custody-key", str(key),
                                      "--tsa-ca", str(local_tsa.pki.ca_cert))
        assert code == 4 and "NOT TIMESTAMPED" in out and "\nOK" not in out
        assert "time not proven" in out


async def test_symlink_fifo_and_device_are_refused_unread_with_one_line(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    pins = pins_for(anchored, local_tsa.pki, tmp_path)
    link = copy_of(bundle, tmp_path, "symlink")
    (link / "originals" / "zero").symlink_to("/dev/zero")
    verdict = examine(link, pins)
    assert verdict.problems == [("originals/zero", verdict.problems[0][1])]
    assert "symbolic link: refused unread" in verdict.problems[0][1]

    pipe = copy_of(bundle, tmp_path, "fifo")
    (pipe / "manifest.json").unlink()
    os.mkfifo(pipe / "manifest.json")
    done = threading.Event()
    result: list[Verdict] = []

    def run() -> None:
        result.append(examine(pipe, pins))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(30), "verify blocked on a named pipe"
    assert [n for n, _ in result[0].problems] == ["manifest.json"]
    assert "named pipe" in result[0].problems[0][1]

    device = copy_of(bundle, tmp_path, "device")
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    os.mknod(device / "report.txt.dev", 0o600 | 0o020000, os.makedev(1, 5))  # like /dev/zero
    verdict = examine(device, pins)
    assert verdict.problems == [("report.txt.dev", verdict.problems[0][1])]
    assert "device" in verdict.problems[0][1]
    code, out = await verify_cli(str(device))
    assert code == 1 and out.count("FAILED  ") == 1


async def test_a_file_over_the_cap_is_refused_unread(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    big = max(files_of(bundle).items(), key=lambda item: len(item[1]))[0]
    pins = pins_for(anchored, local_tsa.pki, tmp_path)
    capped = Anchors(pins.custody_fingerprints, tsa_ca_pem=pins.tsa_ca_pem, max_file_size=1000)
    verdict = examine(bundle, capped)
    assert verdict.status == FAILED and big in {n for n, _ in verdict.problems}
    assert all("byte limit" in why for _, why in verdict.problems)


async def test_tsa_certificates_in_any_order_are_accepted(
    storage: Storage, tmp_path: Path
) -> None:
    """`openssl ts -reply` with `certs` sends the signer first and the CA after: not DER order."""
    pki = make_tsa_pki(tmp_path / "chain-pki")
    config = pki.config.read_text().replace(
        "signer_digest", f"certs = {pki.ca_cert}\nsigner_digest")
    pki.config.write_text(config)
    tsa = LocalTsa(pki)
    await tsa.start()
    try:
        anchored, bundle = await exported(storage, tsa, tmp_path)
    finally:
        await tsa.stop()
    assert anchored.first_run.anchored and not anchored.first_run.failed
    response = (bundle / "timestamps" / DAY_1.isoformat() / "tsa-1.tsr").read_bytes()
    from rfc3161_client import decode_timestamp_response

    with pytest.raises(ValueError, match="InvalidSetOrdering"):
        decode_timestamp_response(response)  # as the authority sent it, kept byte for byte
    verdict = examine(bundle, pins_for(anchored, pki, tmp_path))
    assert verdict.status == OK, reasons(verdict)
    ran = subprocess.run(
        [openssl(), "ts", "-verify", "-in", f"timestamps/{DAY_1.isoformat()}/tsa-1.tsr",
         "-data", f"timestamps/{DAY_1.isoformat()}/root.bin", "-CAfile", str(pki.ca_cert)],
        cwd=bundle, capture_output=True, check=False, timeout=60)
    assert b"Verification: OK" in ran.stdout, ran.stderr


async def test_a_refused_reply_is_not_blamed_on_the_network(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The authority answers, but under a CA nobody configured: a verification failure, and
    the log line says so; an authority that does not answer is a network failure."""
    caplog.set_level(logging.WARNING, logger="intake.evidence")
    other = make_tsa_pki(tmp_path / "other-ca")
    wrong = Anchorer(storage.evidence, [TsaConfig(local_tsa.url, other.ca_cert.read_bytes())],
                     clock=lambda: dt.datetime.now(dt.UTC))
    await sealed_report(storage, b"\x01" * 32, [crypto.generate_identity().recipient],
                        day=recent_days()[0])
    run = await wrong.run_once()
    assert run.failed and {kind for _, kind in run.failed} == {"invalid_token"}
    refused = [r.getMessage() for r in caplog.records]
    assert refused and all("not a network failure" in m and "INTAKE_TSA_CA_FILES" in m
                           for m in refused)
    assert failure_fix("unreachable").startswith("the authority could not be reached")
    assert "network" in failure_fix("http_error") and "verification" in failure_fix("http_error")
