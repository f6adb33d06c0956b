"""Chain of custody of access (issue 10, item 2), end to end against a live reviewer API.

A report is re-wrapped after a reviewer leaves, opened by two reviewers with `intake review
--server ... show`, and exported: the bundle's custody chain holds each of those events, each
entry's signature verifies with the stock `openssl pkeyutl`, and the check function finds
nothing wrong, until any one custody file is changed, which it names.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import crypto
from cli.main import main
from review.audit import report_ref
from review.custody.instructions import verify_lines
from review.custody.verify import CHECKS, check_custody_chain
from review.evidence import bundle as evidence_bundle
from review.evidence.disclosure import disclosure_recipient
from review.evidence.verify import CHECKS as EVIDENCE_CHECKS
from review.evidence.verify import verify_bundle
from review.keys import rewrap_store
from review.recipients import add_reviewer, remove_reviewer
from review.remote import RemoteBackend
from storage import Role, Storage
from tests.review.api_support import DAY, LiveApi, live_api
from tests.review.evidence_support import two_days_anchored
from tests.review.sealed_reports import sealed_report
from tests.review.tsa import LocalTsa, local_tsa, tsa_pki
from tests.support import skip_or_fail

__all__ = ["local_tsa", "tsa_pki"]  # fixtures


async def _remote(api: LiveApi, tmp_path: Path, token: str, *args: str) -> Result:
    token_file = tmp_path / f"token-{secrets.token_hex(4)}"
    token_file.write_text(token + "\n")
    return await asyncio.to_thread(
        CliRunner().invoke, main,
        ["review", "--server", api.url, "--token-file", str(token_file), *args],
        env={"INTAKE_DATA_DIR": str(tmp_path / "client"), "INTAKE_REVIEW_TOKEN": ""},
        catch_exceptions=False,
    )


def _key_file(tmp_path: Path, identity: crypto.X25519Identity, name: str) -> Path:
    path = tmp_path / f"{name}.txt"
    path.write_text(f"{identity}\n")
    return path


def _chain(bundle: Path) -> list[dict[str, object]]:
    lines = (bundle / "custody/chain.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


async def _exported_bundle(storage: Storage, tmp_path: Path) -> tuple[Path, str, str]:
    """Re-wrapped, opened by rita and by sam over the API, exported by rita."""
    async with live_api(storage) as api:
        sam = crypto.generate_identity()
        leaver = crypto.generate_identity()
        await add_reviewer(storage, "sam", str(sam.recipient), audit=api.audit, actor="ada")
        await add_reviewer(storage, "lou", str(leaver.recipient), audit=api.audit, actor="ada")
        sam_token = secrets.token_urlsafe(32)
        await storage.credentials.add("sam", Role.REVIEWER, sam_token, DAY)
        report_id = await sealed_report(
            storage, api.custody_key, [api.reviewer.recipient, sam.recipient, leaver.recipient],
            attachments=[b"photo bytes"], answer="soldiers at the bridge",
        )
        # Another report's events must stay out of this report's chain.
        other = await sealed_report(storage, api.custody_key, [api.reviewer.recipient])

        await remove_reviewer(storage, "lou", audit=api.audit, actor="ada")
        rewrapped = await rewrap_store(storage, [api.reviewer], audit=api.audit, actor="ada")
        assert rewrapped.rewrapped == 3 and rewrapped.complete

        rita_key = _key_file(tmp_path, api.reviewer, "rita")
        for token, key in ((api.reviewer_token, rita_key),
                           (sam_token, _key_file(tmp_path, sam, "sam"))):
            shown = await _remote(api, tmp_path, token, "show", report_id, "-i", str(key))
            assert shown.exit_code == 0 and "soldiers at the bridge" in shown.output
        shown = await _remote(api, tmp_path, api.reviewer_token, "show", other, "-i",
                              str(rita_key))
        assert shown.exit_code == 0, shown.output

        bundle = tmp_path / "bundle"
        exported = await _remote(api, tmp_path, api.reviewer_token, "export", report_id,
                                 "--out", str(bundle), "-i", str(rita_key), "--to", "counsel")
        assert exported.exit_code == 0, exported.output
    return bundle, report_id, other


async def test_rewrap_two_openings_and_export_are_in_the_bundle_must_show(
    storage: Storage, tmp_path: Path
) -> None:
    """Each event is an entry of the chain, with who, which items, what; each one verifies."""
    bundle, report_id, other = await _exported_bundle(storage, tmp_path)
    assert other not in "".join(p.read_text() for p in (bundle / "custody").iterdir()
                                if p.suffix != ".sig")
    custody_text = "".join(p.read_text() for p in (bundle / "custody").iterdir()
                           if p.suffix != ".sig")
    # Not even the other report's hash: each report's chain names its own items only.
    assert report_ref(other) not in custody_text
    chain = _chain(bundle)
    events = []
    for line in chain:
        entry = json.loads(str(line["entry"]))
        items = entry["details"].get("items")
        events.append((entry["actor"], entry["action"], entry["details"].get("via"),
                       None if items is None else sorted(items)))
        assert entry["report"] == report_id
    assert events == [
        # The batch also re-wrapped the other report: this report's chain has its own items.
        ("ada", "keys.rewrap.batch", None, [0, 1]),
        # rita's show: the server hands out each payload, then her tool says it decrypted them.
        ("rita", "access.downloaded", "api", [0]), ("rita", "access.downloaded", "api", [1]),
        ("rita", "access.opened", "cli", [0, 1]),
        ("sam", "access.downloaded", "api", [0]), ("sam", "access.downloaded", "api", [1]),
        ("sam", "access.opened", "cli", [0, 1]),
        ("rita", "access.downloaded", "api", [0]), ("rita", "access.downloaded", "api", [1]),
        ("rita", "access.exported", "cli", [0, 1]),
    ]
    # Through the reviewer API too, the export entry names the bundle it made.
    assert json.loads(str(chain[-1]["entry"]))["details"]["disclosure"] == (
        disclosure_recipient(bundle))
    assert check_custody_chain(bundle) == []
    assert all(check(bundle) == [] for check in CHECKS)
    # The report's own chain: numbered from 1 without a gap, each entry naming the one before;
    # no number of the whole trail (which would say how busy other reports were).
    assert [line["n"] for line in chain] == list(range(1, len(chain) + 1))
    assert all("seq" not in line and '"seq"' not in str(line["entry"]) for line in chain)
    assert chain[0]["prev"] == "0" * 64
    for before, after in itertools.pairwise(chain):
        assert after["prev"] == before["entry_sha256"]
    timeline = (bundle / "custody/timeline.txt").read_text()
    assert "sam  access.opened" in timeline and "received" in timeline

    # The stock openssl checks sam's opening with the bundle's custody public key.
    openssl = shutil.which("openssl")
    if openssl is None:
        skip_or_fail("openssl is not installed")
        raise AssertionError("unreachable")
    sams = next(line for line in chain
                if json.loads(str(line["entry"]))["actor"] == "sam"
                and json.loads(str(line["entry"]))["action"] == "access.opened")
    verify = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "custody.pub.pem", "-rawin",
              "-in", str(sams["entry_file"]), "-sigfile", str(sams["signature_file"])]
    checked = subprocess.run(verify, cwd=bundle, capture_output=True, timeout=60, check=False)
    assert checked.returncode == 0 and b"Verified Successfully" in checked.stdout
    sha = subprocess.run(["sha256sum", str(sams["entry_file"])], cwd=bundle,
                         capture_output=True, check=True, text=True).stdout.split()[0]
    assert sha == sams["entry_sha256"]

    # One changed byte in the entry: openssl refuses it, and the check names the file.
    entry_path = bundle / str(sams["entry_file"])
    entry_path.write_bytes(entry_path.read_bytes().replace(b'"sam"', b'"sal"'))
    refused = subprocess.run(verify, cwd=bundle, capture_output=True, timeout=60, check=False)
    assert refused.returncode != 0
    assert [name for name, _problem in check_custody_chain(bundle)] == [sams["entry_file"]]


@pytest.mark.parametrize("target", [
    "custody/chain.jsonl", "custody/timeline.txt", "signature", "custody.pub.pem",
])
async def test_changing_any_custody_file_is_named(
    storage: Storage, tmp_path: Path, target: str
) -> None:
    """A byte changed in the chain, the timeline, a signature or the key fails, naming it."""
    bundle, _report_id, _other = await _exported_bundle(storage, tmp_path)
    if target == "signature":
        target = str(_chain(bundle)[2]["signature_file"])
    path = bundle / target
    data = bytearray(path.read_bytes())
    # A byte in the middle: for the chain, inside an entry or a hash; for the key, its body.
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    named = {name for name, _problem in check_custody_chain(bundle)}
    assert target in named, check_custody_chain(bundle)


async def test_local_show_notes_pull_and_export_are_recorded(
    tmp_path: Path, database_url: str
) -> None:
    """Without --server the tool appends to the trail itself: opened (items, notes), pulled
    ciphertext as downloaded, exported; the export's chain verifies."""
    from storage.server_keys import load_or_create_server_keys

    data_dir = tmp_path / "data"
    env = {"INTAKE_DATABASE_URL": database_url, "INTAKE_DATA_DIR": str(data_dir)}
    reviewer = crypto.generate_identity()
    key = _key_file(tmp_path, reviewer, "lee")
    keys = load_or_create_server_keys(data_dir)
    store = await Storage.open(database_url, data_dir / "blobs")
    try:
        await store.recipients.add("lee", str(reviewer.recipient),
                                   crypto.key_id(reviewer.recipient), DAY)
        report_id = await sealed_report(store, keys.custody_key, [reviewer.recipient],
                                        attachments=[b"a file"])
    finally:
        await store.close()

    async def run(*args: str) -> Result:
        result = await asyncio.to_thread(
            CliRunner().invoke, main, ["review", "--as", "lee", *args], env=env,
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        return result

    await run("note", report_id, "checked the photo")
    await run("show", report_id, "-i", str(key), "--save-attachments", str(tmp_path / "files"))
    await run("notes", report_id, "-i", str(key))
    await run("pull", "--out", str(tmp_path / "pulled"))
    await run("export", report_id, "--out", str(tmp_path / "bundle"), "-i", str(key),
              "--to", "counsel")
    chain = _chain(tmp_path / "bundle")
    events = [
        (e["actor"], e["action"], e["details"].get("items"), len(e["details"].get("notes", [])))
        for e in (json.loads(str(line["entry"])) for line in chain)
    ]
    assert events == [
        ("lee", "note.add", None, 0),
        ("lee", "access.opened", [0, 1], 0),
        ("lee", "access.downloaded", [1], 0),  # --save-attachments: a decrypted file on disk
        ("lee", "access.opened", None, 1),  # the note, decrypted
        ("lee", "access.downloaded", [0], 0), ("lee", "access.downloaded", [1], 0),  # pull
        ("lee", "access.exported", [0, 1], 0),
    ]
    assert check_custody_chain(tmp_path / "bundle") == []


async def test_entries_of_anchored_days_carry_their_timestamp_proof(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    """An audit entry of a day already anchored (the report's DAY_1 status change) is a leaf of
    that day's timestamped tree: the bundle carries its inclusion proof, and the bundle passes
    `intake verify`'s checks with the custody chain's check added."""
    anchored = await two_days_anchored(storage, local_tsa)
    bundle = await anchored.export(tmp_path / "bundle")
    proofs = json.loads((bundle / "timestamps/proofs.json").read_text())
    entry = next(str(line["entry_file"]) for line in _chain(bundle)
                 if json.loads(str(line["entry"]))["action"] == "status")
    assert entry.startswith("custody/chain-")  # the report's own chain is anchored too
    # Besides the manifest and the entry, each sealed file's header (evidence-bundle.md).
    assert {p["file"] for p in proofs if "bytes" not in p} == {"manifest.json", entry}
    assert next(p for p in proofs if p["file"] == entry)["day"] == "2026-11-20"
    assert CHECKS[0] in EVIDENCE_CHECKS  # `intake verify` runs the custody chain's check
    assert verify_bundle(bundle) == []
    merkle = subprocess.run(["python3", "verify_merkle.py"], cwd=bundle, capture_output=True,
                            text=True, timeout=60, check=False)
    assert merkle.returncode == 0, merkle.stdout + merkle.stderr


async def test_verify_txt_section_runs_as_written(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    """With this part's section in VERIFY.txt, `intake verify` still rebuilds the text, and the
    openssl and sha256sum commands it shows succeed and print what it says."""
    assert verify_lines in evidence_bundle.VERIFY_SECTIONS
    anchored = await two_days_anchored(storage, local_tsa)
    bundle = await anchored.export(tmp_path / "bundle")
    assert verify_bundle(bundle) == []
    text = (bundle / "VERIFY.txt").read_text()
    section = text.index("Chain of custody (custody/")
    start = text.index("     openssl pkeyutl", section)
    command = text[start:].split("\n")[:2]
    openssl = " ".join(part.strip().rstrip("\\") for part in command)
    ran = subprocess.run(["sh", "-c", openssl], cwd=bundle, capture_output=True, text=True,
                         timeout=60, check=False)
    assert ran.returncode == 0 and "Verified Successfully" in ran.stdout
    assert "custody/chain-" in openssl
    sha_line = text[start:].split("\n")[2].strip()
    command, expected = sha_line.split("   # ")
    ran = subprocess.run(["sh", "-c", command], cwd=bundle, capture_output=True, text=True,
                         timeout=60, check=True)
    assert ran.stdout.split()[0] == expected


async def test_bulk_openings_are_in_each_reports_chain(storage: Storage, tmp_path: Path) -> None:
    """The console's monitoring records the whole queue in bulk entries (through the API too):
    each report's bundle carries the entry, which names the others by hash only."""
    async with live_api(storage) as api:
        reports = [
            await sealed_report(storage, api.custody_key, [api.reviewer.recipient])
            for _ in range(3)
        ]
        remote = RemoteBackend(api.url, api.reviewer_token)
        async with remote:
            await remote.record_bulk_access([(r, 0) for r in reports], via="console")
            status, _body = await api.call("POST", "/v1/access", api.reviewer_token,
                                           json={"items": [[reports[0], 0]], "via": "api"})
            assert status == 400
        rita_key = _key_file(tmp_path, api.reviewer, "rita")
        bundle = tmp_path / "bundle"
        exported = await _remote(api, tmp_path, api.reviewer_token, "export", reports[1],
                                 "--out", str(bundle), "-i", str(rita_key), "--to", "counsel")
        assert exported.exit_code == 0, exported.output
    (bulk,) = [json.loads(str(line["entry"])) for line in _chain(bundle)
               if "batch" in str(line["entry"])]
    assert (bulk["actor"], bulk["action"], bulk["details"]["via"]) == (
        "rita", "access.opened.batch", "console"
    )
    # This report's own items only: the others are not even named by hash.
    assert bulk["report"] == reports[1] and bulk["details"]["items"] == [0]
    custody_text = "".join(p.read_text() for p in (bundle / "custody").iterdir()
                           if p.suffix != ".sig")
    for other in (reports[0], reports[2]):
        assert other not in custody_text and report_ref(other) not in custody_text
    assert check_custody_chain(bundle) == []
