"""A chain of custody cut back to an earlier export (issue 19, item 4).

The same report exported twice: the second bundle's chain holds the first export, whatever
happened between the two, and its own export. A forger holding the second bundle drops every
entry after the first export, rebuilds the timeline (no key needed: it is made of the signed
entries) and reseals SHA256SUMS and VERIFY.txt. Each entry left is genuine and signed, the chain
still runs 1, 2, 3... and ends with an export: only the export entry's link to its own bundle
(the recipient of the bundle's disclosure identity) shows the cut.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

import crypto
from review.audit import AuditTrail
from review.custody.access import Access, AccessError, access_details
from review.custody.chain import CHAIN_FILE, TIMELINE_FILE, timeline
from review.custody.verify import OLD_EXPORT_WARNING, chain_warnings, check_custody_chain
from review.evidence.anchors import Anchors
from review.evidence.disclosure import disclosure_recipient
from review.evidence.verdict import FAILED, OK, ItemTime, Verdict, examine, summary
from review.evidence.verify import verify_bundle
from review.export import export_report
from review.local import LocalBackend
from storage import Storage
from storage.audit import CustodyRecord
from tests.review.forgery_support import reseal
from tests.review.sealed_reports import sealed_report
from tests.support import skip_or_fail


async def _store(storage: Storage) -> tuple[crypto.X25519Identity, str, LocalBackend]:
    custody = secrets.token_bytes(32)
    reviewer = crypto.generate_identity()
    report_id = await sealed_report(storage, custody, [reviewer.recipient],
                                    attachments=[b"photo"])
    backend = LocalBackend(storage, AuditTrail(storage.audit, custody), "alice",
                           custody_key=custody)
    return reviewer, report_id, backend


def _chain(bundle: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (bundle / CHAIN_FILE).read_text().splitlines()]


def _entry(line: dict[str, object]) -> dict[str, object]:
    return dict(json.loads(str(line["entry"])))


def _cut_after(bundle: Path, report_id: str, keep: int) -> None:
    """What the forger does: keep the first `keep` entries, drop the rest with their files,
    rebuild the timeline and reseal SHA256SUMS and VERIFY.txt."""
    lines = (bundle / CHAIN_FILE).read_text().splitlines()
    for text in lines[keep:]:
        dropped = json.loads(text)
        (bundle / dropped["entry_file"]).unlink()
        (bundle / dropped["signature_file"]).unlink()
    (bundle / CHAIN_FILE).write_text("".join(f"{line}\n" for line in lines[:keep]))
    kept = [json.loads(line) for line in lines[:keep]]
    records = [CustodyRecord(b"", line["n"], line["entry"].encode("ascii"),
                             line["entry_sha256"], b"") for line in kept]
    (bundle / TIMELINE_FILE).write_text(
        timeline(report_id, (bundle / "manifest.json").read_bytes(), [], records))
    reseal(bundle)


async def test_a_chain_cut_back_to_an_earlier_export_is_refused(
    storage: Storage, tmp_path: Path
) -> None:
    reviewer, report_id, backend = await _store(storage)
    await export_report(backend, report_id, tmp_path / "first", [reviewer])
    # What the forger wants to hide: an access between the two exports.
    await backend.record_access(Access(report_id, "opened", items=[0, 1]))
    second = tmp_path / "second"
    await export_report(backend, report_id, second, [reviewer])
    assert verify_bundle(second) == []
    chain = _chain(second)
    assert [_entry(line)["action"] for line in chain] == [
        "access.exported", "access.opened", "access.exported"]
    # Each export entry names its own bundle's disclosure recipient, derived from its key.
    first_recipient = disclosure_recipient(tmp_path / "first")
    assert first_recipient != disclosure_recipient(second)
    assert [_entry(line)["details"].get("disclosure") for line in chain  # type: ignore[union-attr]
            if _entry(line)["action"] == "access.exported"] == [
        first_recipient, disclosure_recipient(second)]
    # The examiner's stock check, as VERIFY.txt gives it.
    keygen = shutil.which("age-keygen")
    if keygen is None:
        skip_or_fail("age-keygen is not installed")
    assert keygen is not None
    stated = subprocess.run([keygen, "-y", str(second / "disclosure.key")], check=True,
                            capture_output=True, text=True).stdout.strip()
    assert stated == disclosure_recipient(second)
    assert "age-keygen -y disclosure.key" in (second / "VERIFY.txt").read_text()

    _cut_after(second, report_id, keep=1)
    # Every self-consistency check but the link to the bundle would pass now.
    reasons = [problem for name, problem in check_custody_chain(second) if name == CHAIN_FILE]
    assert reasons == [
        f"the chain ends with custody entry 1, the export of another bundle (disclosure "
        f"recipient {first_recipient}, this bundle's is {disclosure_recipient(second)}): the "
        "chain was cut back to an earlier export, hiding what came after it"]
    assert [name for name, _problem in verify_bundle(second)] == [CHAIN_FILE]
    verdict = examine(second, Anchors())
    assert verdict.status == FAILED
    assert any("cut back to an earlier export" in why for _name, why in verdict.problems)


async def test_the_stated_public_key_line_of_disclosure_key_is_not_what_counts(
    storage: Storage, tmp_path: Path
) -> None:
    """The forger also rewrites disclosure.key's comment to the first bundle's recipient:
    the recipient is derived from the identity, so the cut still shows."""
    reviewer, report_id, backend = await _store(storage)
    await export_report(backend, report_id, tmp_path / "first", [reviewer])
    await backend.record_access(Access(report_id, "opened", items=[0]))
    second = tmp_path / "second"
    await export_report(backend, report_id, second, [reviewer])
    first_recipient = disclosure_recipient(tmp_path / "first")
    key = (second / "disclosure.key").read_text().splitlines()
    key[1] = f"# public key: {first_recipient}"
    (second / "disclosure.key").write_text("\n".join(key) + "\n")
    _cut_after(second, report_id, keep=1)
    assert any("cut back to an earlier export" in problem
               for _name, problem in verify_bundle(second))


class _RacingBackend(LocalBackend):
    """Another reviewer's export of the same report lands between this export's entry and
    the fetch of the chain (as two exports running at once do)."""

    raced = False

    async def record_access(self, access: Access) -> None:
        await super().record_access(access)
        if access.what == "exported" and not self.raced:
            self.raced = True
            await super().record_access(Access(
                access.report_id, "exported", items=access.items,
                disclosure=str(crypto.generate_identity().recipient)))


async def test_concurrent_exports_each_end_with_their_own_export_entry(
    storage: Storage, tmp_path: Path
) -> None:
    custody = secrets.token_bytes(32)
    reviewer = crypto.generate_identity()
    report_id = await sealed_report(storage, custody, [reviewer.recipient])
    backend = _RacingBackend(storage, AuditTrail(storage.audit, custody), "alice",
                             custody_key=custody)
    bundle = tmp_path / "bundle"
    await export_report(backend, report_id, bundle, [reviewer])
    assert verify_bundle(bundle) == []
    chain = _chain(bundle)
    assert [line["n"] for line in chain] == [1]
    assert _entry(chain[0])["details"]["disclosure"] == (  # type: ignore[index]
        disclosure_recipient(bundle))
    # The next bundle carries both earlier exports, and ends with its own.
    later = tmp_path / "later"
    await export_report(backend, report_id, later, [reviewer])
    assert verify_bundle(later) == []
    assert [line["n"] for line in _chain(later)] == [1, 2, 3]


async def test_a_cut_back_to_an_export_entry_from_before_the_field_is_a_stated_limitation(
    storage: Storage, tmp_path: Path
) -> None:
    """An export recorded without naming its bundle (an older reviewer tool or server) cannot
    show a cut back to it: verify says so in a warning instead of claiming completeness."""
    reviewer, report_id, backend = await _store(storage)
    await backend.record_access(Access(report_id, "exported", items=[0, 1]))
    await backend.record_access(Access(report_id, "opened", items=[0, 1]))
    bundle = tmp_path / "bundle"
    await export_report(backend, report_id, bundle, [reviewer])
    assert chain_warnings(bundle) == []
    _cut_after(bundle, report_id, keep=1)
    assert verify_bundle(bundle) == []
    warning = (
        "the chain ends with an export recorded before export entries named their bundle (no "
        "disclosure recipient): that it is this bundle's export, and so that no later access "
        "was cut off the chain, is the bundle's word only")
    assert chain_warnings(bundle) == [warning]
    verdict = examine(bundle, Anchors())
    assert verdict.warnings == [warning]
    assert f"WARNING  {warning}" in summary(verdict)


def test_only_an_export_names_a_disclosure_recipient_and_only_an_age_one() -> None:
    identity = crypto.generate_identity()
    report_id = "0" * 32
    with pytest.raises(AccessError, match="only an export"):
        access_details(Access(report_id, "opened", items=[0],
                              disclosure=str(identity.recipient)))
    # Never the identity itself (it is in the bundle, not in the server's records).
    with pytest.raises(AccessError, match="age1"):
        access_details(Access(report_id, "exported", items=[0], disclosure=str(identity)))
    details = access_details(Access(report_id, "exported", items=[0],
                                    disclosure=f" {identity.recipient}\n"))
    assert details["disclosure"] == str(identity.recipient)


def test_the_ok_text_claims_a_complete_chain_only_when_the_export_names_its_bundle() -> None:
    proven = dt.datetime(2026, 3, 2, 1, tzinfo=dt.UTC)
    items = [ItemTime(0, "answers", "2026-03-01", proven, "TSA", header_proven_at=proven)]
    named = "\n".join(summary(Verdict(OK, items=items, custody_fingerprint="ab")))
    assert "complete up to this export (its last entry names this bundle's" in named
    assert "made this bundle" not in named
    old = "\n".join(summary(Verdict(OK, items=items, warnings=[OLD_EXPORT_WARNING],
                                    custody_fingerprint="ab")))
    assert f"WARNING  {OLD_EXPORT_WARNING}" in old
    assert "complete up to this export" not in old
    assert "complete up to the export it ends with" in old
    not_proven = old[old.index("Not proven:"):]
    assert "that the export the chain ends with made this bundle" in not_proven
