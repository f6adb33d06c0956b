"""Renewal (RFC 4998 idea): a proof whose authority's certificate has expired since holds only
through a renewal made before that expiry, checked against pinned CAs alone.

The short-lived authority's TSA certificate is made by openssl valid for one day; `intake
verify --at` judges the bundle three days later, when that certificate has expired. The
renewal is made now, by a second (long-lived) authority: before the expiry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import main
from crypto import merkle
from crypto.custody import custody_public_pem
from review.evidence.anchors import Anchors, load_anchors
from review.evidence.renewal import RENEWALS, leaf, renew, renewal_folders
from review.evidence.tsa import TsaConfig, verify_response
from review.evidence.verdict import FAILED, NOT_TIMESTAMPED, OK, examine, summary
from review.evidence.verify import verify_bundle
from storage import Storage
from tests.review.evidence_support import Anchored, recent_days, two_days_anchored
from tests.review.forgery_support import copy_of, openssl_token, reasons, reseal, verify_cli
from tests.review.tsa import LocalTsa, TsaPki, local_tsa, make_tsa_pki, openssl, tsa_pki

__all__ = ["local_tsa", "tsa_pki"]  # fixtures

LATER = dt.timedelta(days=3)  # the short-lived certificate (one day) has expired by then


@pytest.fixture(scope="session")
def short_pki(tmp_path_factory: pytest.TempPathFactory) -> TsaPki:
    return make_tsa_pki(tmp_path_factory.mktemp("short-tsa"), tsa_days=1, name="short-lived")


@pytest.fixture
async def short_tsa(short_pki: TsaPki) -> AsyncIterator[LocalTsa]:
    tsa = LocalTsa(short_pki)
    await tsa.start()
    try:
        yield tsa
    finally:
        await tsa.stop()


def _pins(anchored: Anchored, cas: list[TsaPki], tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "published-custody.pub.pem"
    key.write_bytes(custody_public_pem(anchored.custody_key))
    pinned = tmp_path / "pinned-tsa-cas.pem"
    pinned.write_bytes(b"".join(p.ca_cert.read_bytes() for p in cas))
    return key, pinned


def _anchors(key: Path, cas: Path, at: dt.datetime | None = None) -> Anchors:
    return dataclasses.replace(load_anchors(custody_key_files=[key], tsa_ca_files=[cas]), at=at)


def _renew_cli(tsa_url: str, ca: Path, tmp_path: Path, database_url: str) -> Result:
    env = {"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_DATABASE_URL": database_url,
           "INTAKE_TSA_URLS": tsa_url, "INTAKE_TSA_CA_FILES": str(ca)}
    return CliRunner().invoke(main, ["evidence", "renew"], env=env, catch_exceptions=False)


async def _renewed(storage: Storage, short_tsa: LocalTsa, long_tsa: LocalTsa, tmp_path: Path,
                   database_url: str) -> tuple[Anchored, Path, Path]:
    """Anchored by the short-lived authority, exported; renewed twice by the long-lived one
    (once through `intake evidence renew`), exported again."""
    anchored = await two_days_anchored(storage, short_tsa, recent_days())
    unrenewed = await anchored.export(tmp_path / "unrenewed")
    authority = [TsaConfig(long_tsa.url, long_tsa.pki.ca_cert.read_bytes())]
    first = await renew(storage.evidence, storage.renewals, authority)
    assert (first.renewed, first.failed) == ([("default", 1)], [])
    second = await asyncio.to_thread(_renew_cli, long_tsa.url, long_tsa.pki.ca_cert, tmp_path,
                                     database_url)
    assert second.exit_code == 0, second.output
    assert "renewal 2 of channel 'default' timestamped" in second.output
    return anchored, unrenewed, await anchored.export(tmp_path / "renewed")


async def test_an_expired_authoritys_proof_holds_only_through_a_renewal(
    storage: Storage, short_tsa: LocalTsa, local_tsa: LocalTsa, tmp_path: Path,
    database_url: str,
) -> None:
    anchored, unrenewed, renewed = await _renewed(storage, short_tsa, local_tsa, tmp_path,
                                                  database_url)
    key, cas = _pins(anchored, [short_tsa.pki, local_tsa.pki], tmp_path)
    later = dt.datetime.now(dt.UTC) + LATER

    # The chain: renewal 2 folds renewal 1's root and token; both cover every daily token.
    chain = await storage.renewals.chain("default")
    assert leaf(bytes.fromhex(chain[0].root), chain[0].response) in chain[1].leaves
    days = [d for d in await storage.evidence.days() if d.channel == "default"]
    for renewal in chain:
        assert {leaf(bytes.fromhex(d.root), t.response) for d in days for t in d.tokens} <= set(
            renewal.leaves)
        assert merkle.root([bytes.fromhex(h) for h in renewal.leaves]).hex() == renewal.root

    # Today the short-lived certificate is valid: OK without a renewal, not called renewed.
    today = examine(unrenewed, _anchors(key, cas))
    assert today.status == OK, reasons(today)
    assert all(item.renewed is None for item in today.items)

    # Three days later it has expired: without a renewal, not timestamped, and why.
    expired = examine(unrenewed, _anchors(key, cas, later))
    assert expired.status == NOT_TIMESTAMPED, reasons(expired)
    assert "certificate expired" in reasons(expired)
    assert "intake evidence renew" in reasons(expired)

    # With the renewal made before the expiry: OK, and the proof is reported as renewed.
    assert verify_bundle(renewed) == []
    folders = renewal_folders([p.relative_to(renewed).as_posix() for p in renewed.rglob("*")])
    assert folders == [f"{RENEWALS}/1", f"{RENEWALS}/2"]
    held = examine(renewed, _anchors(key, cas, later))
    assert held.status == OK, reasons(held)
    assert all(item.renewed and "renewed" in item.renewed for item in held.items)
    assert local_tsa.url in (held.items[0].renewed or "")
    assert any("RENEWED" in line for line in summary(held))
    code, output = await verify_cli(str(renewed), "--custody-key", str(key), "--tsa-ca",
                                    str(cas), "--at", later.strftime("%Y-%m-%dT%H:%M:%S"))
    assert code == 0 and "RENEWED" in output, output
    code, output = await verify_cli(str(unrenewed), "--custody-key", str(key), "--tsa-ca",
                                    str(cas), "--at", later.strftime("%Y-%m-%dT%H:%M:%S"))
    assert code == 4 and "NOT TIMESTAMPED" in output, output

    # The stock-tool steps of VERIFY.txt: openssl verifies each renewal token with the pinned
    # CA, sha256sum's leaf of a root and its token is in the renewal, the script still holds.
    text = (renewed / "VERIFY.txt").read_text()
    for folder in folders:
        assert f"openssl ts -verify -in {folder}/renewal.tsr" in text
        checked = subprocess.run(
            [openssl(), "ts", "-verify", "-in", f"{folder}/renewal.tsr", "-data",
             f"{folder}/root.bin", "-CAfile", str(local_tsa.pki.ca_cert)],
            cwd=renewed, capture_output=True, check=False, timeout=60)
        assert checked.returncode == 0 and b"Verification: OK" in checked.stdout, checked.stderr
    day = json.loads((renewed / "timestamps/proofs.json").read_bytes())[0]["day"]
    printed = subprocess.run(
        ["sh", "-c", f"(printf '\\000'; cat timestamps/{day}/root.bin timestamps/{day}/tsa-1.tsr)"
                     " | sha256sum"], cwd=renewed, capture_output=True, check=True, timeout=60)
    assert printed.stdout.split()[0].decode() in chain[0].leaves
    script = subprocess.run([sys.executable, "verify_merkle.py"], cwd=renewed,
                            capture_output=True, check=False, timeout=60)
    assert script.returncode == 0, script.stdout


async def test_forged_renewals_are_refused(
    storage: Storage, short_tsa: LocalTsa, local_tsa: LocalTsa, tmp_path: Path,
    database_url: str,
) -> None:
    anchored, _, renewed = await _renewed(storage, short_tsa, local_tsa, tmp_path, database_url)
    key, cas = _pins(anchored, [short_tsa.pki, local_tsa.pki], tmp_path)
    later = dt.datetime.now(dt.UTC) + LATER

    # Renewal tokens from a look-alike authority (same names, its own CA, shipped beside them):
    # consistent with itself, but it chains to no pinned CA, so the expired proof is not held.
    look_alike = make_tsa_pki(tmp_path / "look-alike", name="test")
    forged = copy_of(renewed, tmp_path, "look-alike-renewal")
    for n, folder in enumerate((f"{RENEWALS}/1", f"{RENEWALS}/2")):
        root = (forged / folder / "root.bin").read_bytes()
        token = openssl_token(look_alike, root, tmp_path / f"work-{n}")
        (forged / folder / "renewal.tsr").write_bytes(token)
        (forged / folder / "renewal-ca.pem").write_bytes(look_alike.ca_cert.read_bytes())
        document = json.loads((forged / folder / "renewal.json").read_bytes())
        document["gen_time"] = verify_response(
            token, root, look_alike.ca_cert.read_bytes()).isoformat()
        (forged / folder / "renewal.json").write_text(json.dumps(document, indent=2))
    # Renewal 2 covers renewal 1's token: with it replaced, that proof no longer holds; drop
    # renewal 1 so that the look-alike token of renewal 2 is what is judged.
    for name in ("root.bin", "renewal.tsr", "renewal-ca.pem", "renewal.json"):
        (forged / RENEWALS / "1" / name).unlink()
    (forged / RENEWALS / "1").rmdir()
    document = json.loads((forged / RENEWALS / "2" / "renewal.json").read_bytes())
    document["covers"] = [c for c in document["covers"] if RENEWALS not in c["files"][0]]
    (forged / RENEWALS / "2" / "renewal.json").write_text(json.dumps(document, indent=2))
    reseal(forged)
    assert verify_bundle(forged) == []
    verdict = examine(forged, _anchors(key, cas, later))
    assert verdict.status == NOT_TIMESTAMPED, reasons(verdict)
    assert f"{RENEWALS}/2/renewal.tsr: does not chain to a pinned TSA CA" in reasons(verdict)

    # A wrong previous root: renewal 1 rebuilt over another root, re-timestamped by the genuine
    # long-lived authority. Renewal 1 no longer covers the day, renewal 2 not renewal 1.
    wrong = copy_of(renewed, tmp_path, "wrong-previous-root")
    other_root = hashlib.sha256(b"not the chain").digest()
    (wrong / RENEWALS / "1" / "root.bin").write_bytes(other_root)
    token = openssl_token(local_tsa.pki, other_root, tmp_path / "work-wrong")
    (wrong / RENEWALS / "1" / "renewal.tsr").write_bytes(token)
    document = json.loads((wrong / RENEWALS / "1" / "renewal.json").read_bytes())
    document["root"] = other_root.hex()
    document["gen_time"] = verify_response(
        token, other_root, local_tsa.pki.ca_cert.read_bytes()).isoformat()
    (wrong / RENEWALS / "1" / "renewal.json").write_text(json.dumps(document, indent=2))
    reseal(wrong)
    problems = "\n".join(f"{n}: {w}" for n, w in verify_bundle(wrong))
    assert f"{RENEWALS}/1/renewal.json: its proof for" in problems
    assert f"{RENEWALS}/2/renewal.json: its proof for {RENEWALS}/1/renewal.tsr" in problems
    verdict = examine(wrong, _anchors(key, cas, later))
    assert verdict.status == FAILED


async def test_renew_with_no_authority_answering_names_the_network(
    storage: Storage, short_tsa: LocalTsa, tsa_pki: TsaPki, tmp_path: Path, database_url: str
) -> None:
    await two_days_anchored(storage, short_tsa, recent_days())
    down = LocalTsa(tsa_pki)  # never started: nothing answers on its port
    result = await asyncio.to_thread(_renew_cli, down.url, tsa_pki.ca_cert, tmp_path,
                                     database_url)
    assert result.exit_code == 1
    assert "no authority timestamped the renewal (unreachable)" in result.output
    assert "not a verification one" in result.output
    assert await storage.renewals.chain("default") == []
