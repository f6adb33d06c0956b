"""Custody that proves it is complete (issue 19, item 4), tried the way an opposing expert would.

Each report has its own chain of custody (entries n = 1, 2, 3..., each naming the SHA-256 of
the one before): a custody entry dropped from a bundle, two entries swapped, and an access
dated before the report arrived are each refused with their own reason; the server refuses to
record such an access in the first place; a channel's bundle holds not one byte of another
channel's report (its id, its hash, its manifest); exporting records a transfer to whom, by
whom, with the bundle's hash; and a store upgraded from the global chain keeps verifying.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import shutil
from pathlib import Path

import pytest

import crypto
from crypto.custody import sign_manifest
from review.audit import AuditEntry, AuditTrail, CustodyTimeError, encode_entry, report_ref
from review.channels import add_channel
from review.custody.chain import CHAIN_FILE
from review.custody.entries import CustodyEntry, decode_custody, encode_custody
from review.custody.verify import check_custody_chain
from review.evidence.verify import verify_bundle
from review.export import export_report
from review.keys import rewrap_store
from review.local import LocalBackend
from storage import ChannelRecord, Storage
from storage.audit import AuditRecord, CustodyRecord
from tests.review.sealed_reports import DAY, sealed_report


def _clock(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


async def _store(storage: Storage) -> tuple[bytes, crypto.X25519Identity, str, LocalBackend]:
    custody = secrets.token_bytes(32)
    reviewer = crypto.generate_identity()
    report_id = await sealed_report(storage, custody, [reviewer.recipient],
                                    attachments=[b"photo"])
    backend = LocalBackend(storage, AuditTrail(storage.audit, custody), "alice",
                           custody_key=custody)
    return custody, reviewer, report_id, backend


async def _bundle_with_events(storage: Storage, tmp_path: Path) -> Path:
    """A report opened, triaged and downloaded, then exported: a chain of four entries."""
    _custody, reviewer, report_id, backend = await _store(storage)
    await backend.record_access(_opened(report_id))
    await backend.set_status(report_id, "triaged")
    backend.record_downloads = "cli"
    await backend.read_payload(report_id, 1)
    backend.record_downloads = None
    out = tmp_path / "bundle"
    await export_report(backend, report_id, out, [reviewer])
    assert check_custody_chain(out) == []
    return out


def _opened(report_id: str) -> object:
    from review.custody.access import Access

    return Access(report_id, "opened", items=[0, 1])


def _lines(bundle: Path) -> list[str]:
    return (bundle / CHAIN_FILE).read_text().splitlines()


def _write_lines(bundle: Path, lines: list[str]) -> None:
    (bundle / CHAIN_FILE).write_text("".join(f"{line}\n" for line in lines))


def _reasons(bundle: Path) -> list[str]:
    return [problem for name, problem in check_custody_chain(bundle) if name == CHAIN_FILE]


async def test_a_dropped_custody_entry_is_refused_as_dropped(
    storage: Storage, tmp_path: Path
) -> None:
    bundle = await _bundle_with_events(storage, tmp_path)
    lines = _lines(bundle)
    assert [json.loads(line)["n"] for line in lines] == [1, 2, 3, 4]
    # The forger removes entry 3 (the download) and its files, leaving a chain that still
    # starts with the first entry and ends with the export.
    dropped = json.loads(lines.pop(2))
    (bundle / dropped["entry_file"]).unlink()
    (bundle / dropped["signature_file"]).unlink()
    _write_lines(bundle, lines)
    reasons = _reasons(bundle)
    assert reasons == [
        "custody entry 3 of this report is missing: entry 4 (line 3) follows entry 2; "
        "an entry was dropped"
    ]
    assert any("dropped" in problem for _name, problem in verify_bundle(bundle))


async def test_reordered_custody_entries_are_refused_as_reordered(
    storage: Storage, tmp_path: Path
) -> None:
    bundle = await _bundle_with_events(storage, tmp_path)
    lines = _lines(bundle)
    lines[1], lines[2] = lines[2], lines[1]
    _write_lines(bundle, lines)
    reasons = _reasons(bundle)
    assert "custody entry 2 (line 3) comes after entry 3: the entries were reordered" in reasons
    assert all("dropped" not in reason for reason in reasons)


async def test_an_access_before_the_reports_arrival_is_refused_when_recorded(
    storage: Storage,
) -> None:
    """A server whose clock says the access came before the report arrived records nothing."""
    custody, _reviewer, report_id, _backend = await _store(storage)
    early = AuditTrail(storage.audit, custody, clock=lambda: _clock(DAY - dt.timedelta(days=3)))
    backend = LocalBackend(storage, early, "alice", custody_key=custody)
    before = await storage.audit.count()
    with pytest.raises(CustodyTimeError, match=r"before report .* arrived"):
        await backend.record_access(_opened(report_id))
    assert await storage.audit.count() == before
    assert await storage.audit.custody_chain(bytes.fromhex(report_ref(report_id))) == []
    # On the day itself it is recorded.
    same_day = AuditTrail(storage.audit, custody, clock=lambda: _clock(DAY, 0))
    await LocalBackend(storage, same_day, "alice", custody_key=custody).record_access(
        _opened(report_id)
    )
    [entry] = await storage.audit.custody_chain(bytes.fromhex(report_ref(report_id)))
    assert decode_custody(entry.entry).at == f"{DAY}T00:00:00+00:00"


async def test_an_access_dated_before_arrival_in_a_bundle_is_refused(
    storage: Storage, tmp_path: Path
) -> None:
    """An entry signed with the custody key but dated before the report arrived (a server of
    before this check with a wrong clock, or anyone holding the key): verify names it."""
    custody, reviewer, report_id, backend = await _store(storage)
    ref = bytes.fromhex(report_ref(report_id))
    early = CustodyEntry(report_id, 1, "0" * 64, f"{DAY - dt.timedelta(days=2)}T09:00:00+00:00",
                         "alice", "access.opened", {"items": [0]}, legacy=())
    encoded = encode_custody(early)
    last = await storage.audit.last()
    seq = last.seq + 1 if last else 1
    global_entry = encode_entry(AuditEntry(seq, early.at, "alice", "access.opened", report_id,
                                           {"items": [0]}, last.entry_hash if last else "0" * 64))
    await storage.audit.append(
        AuditRecord(seq, global_entry, hashlib.sha256(global_entry).hexdigest(),
                    sign_manifest(custody, global_entry)),
        about=[ref],
        custody=[CustodyRecord(ref, 1, encoded, hashlib.sha256(encoded).hexdigest(),
                               sign_manifest(custody, encoded))],
    )
    await export_report(backend, report_id, tmp_path / "bundle", [reviewer])
    assert _reasons(tmp_path / "bundle") == [
        f"custody entry 1 is dated {early.at}, before the report arrived ({DAY}): an access "
        "cannot precede the report"
    ]


async def test_a_channels_bundle_holds_nothing_of_another_channel(
    storage: Storage, tmp_path: Path
) -> None:
    """Reports of channels a and b opened in one bulk action and re-wrapped; a's bundle holds
    no byte of b's report id, its hash, or its manifest's hash, and no global number."""
    custody = secrets.token_bytes(32)
    keys = {slug: crypto.generate_identity() for slug in ("a", "b")}
    for slug, key in keys.items():
        await add_channel(storage, ChannelRecord(slug=slug, name=f"Partner {slug.upper()}"))
        await storage.recipients.add(f"r-{slug}", str(key.recipient),
                                     crypto.key_id(key.recipient), DAY, channel=slug)
    mine = await sealed_report(storage, custody, [keys["a"].recipient], channel="a",
                               attachments=[b"a photo"])
    theirs = await sealed_report(storage, custody, [keys["b"].recipient], channel="b",
                                 attachments=[b"b photo"])
    trail = AuditTrail(storage.audit, custody)
    backend = LocalBackend(storage, trail, "alice", custody_key=custody)
    await backend.record_bulk_access([(mine, 0), (mine, 1), (theirs, 0), (theirs, 1)])
    await backend.set_status(theirs, "triaged")
    for slug, key in keys.items():  # a second reviewer in each channel: both re-wrapped
        newcomer = crypto.generate_identity()
        await storage.recipients.add(f"n-{slug}", str(newcomer.recipient),
                                     crypto.key_id(newcomer.recipient), DAY, channel=slug)
        done = await rewrap_store(storage, [key], audit=trail, actor="ada", channel=slug)
        assert done.rewrapped == 2
    await export_report(backend, mine, tmp_path / "bundle", [keys["a"]])
    await export_report(backend, theirs, tmp_path / "theirs", [keys["b"]])
    assert check_custody_chain(tmp_path / "bundle") == []

    stored = await storage.reports.get(theirs)
    assert stored is not None
    needles = [theirs, report_ref(theirs), hashlib.sha256(stored.manifest).hexdigest()]
    needles += [hashlib.sha256(item.header).hexdigest() for item in stored.items]
    for path in sorted((tmp_path / "bundle").rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            for needle in needles:
                assert needle.encode() not in data, (path, needle)
    # Each global batch entry names one channel's reports only.
    for entry in await trail.entries():
        if entry.action.endswith(".batch"):
            refs = {pair[0] for pair in entry.details["items"]}
            assert not (report_ref(mine) in refs and report_ref(theirs) in refs), entry
    # No number of the whole trail: the chain counts this report's entries only.
    for line in _lines(tmp_path / "bundle"):
        assert "seq" not in json.loads(line)
    assert [json.loads(line)["n"] for line in _lines(tmp_path / "bundle")] == [1, 2, 3]


async def test_an_export_records_a_transfer_to_whom_by_whom_and_the_bundles_hash(
    storage: Storage, tmp_path: Path
) -> None:
    _custody, reviewer, report_id, backend = await _store(storage)
    out = tmp_path / "bundle"
    await export_report(backend, report_id, out, [reviewer],
                        transfer_to="Jane Roe, counsel for the victims")
    chain = await storage.audit.custody_chain(bytes.fromhex(report_ref(report_id)))
    last = decode_custody(chain[-1].entry)
    assert (last.action, last.actor, last.details) == (
        "access.transferred", "alice", {
            "to": "Jane Roe, counsel for the victims",
            "bundle_sha256": hashlib.sha256((out / "SHA256SUMS").read_bytes()).hexdigest(),
        },
    )
    # The next bundle carries the transfer in its chain, and verifies.
    await export_report(backend, report_id, tmp_path / "second", [reviewer])
    assert check_custody_chain(tmp_path / "second") == []
    actions = [json.loads(json.loads(line)["entry"])["action"]
               for line in _lines(tmp_path / "second")]
    assert actions == ["access.exported", "access.transferred", "access.exported"]
    # A recipient that would forge a line of the timeline is refused before any bundle.
    with pytest.raises(Exception, match="one line of text"):
        await export_report(backend, report_id, tmp_path / "third", [reviewer],
                            transfer_to="Jane\n2026-01-01  forged")
    assert not (tmp_path / "third").exists()


async def test_a_store_from_before_the_chains_keeps_verifying(
    storage: Storage, tmp_path: Path
) -> None:
    """Entries written by the global chain only (as before migration 0014) come along in the
    bundle, named by the report's first chain entry; `intake audit verify` still passes;
    dropping an old entry is refused as dropped."""
    custody, reviewer, report_id, backend = await _store(storage)
    ref = bytes.fromhex(report_ref(report_id))
    trail = AuditTrail(storage.audit, custody)
    for action in ("report.status", "access.opened"):  # as an older version wrote them
        last = await storage.audit.last()
        seq = last.seq + 1 if last else 1
        entry = encode_entry(AuditEntry(seq, f"{DAY}T15:00:00+00:00", "old", action, report_id,
                                        {}, last.entry_hash if last else "0" * 64))
        await storage.audit.append(AuditRecord(
            seq, entry, hashlib.sha256(entry).hexdigest(), sign_manifest(custody, entry)
        ), about=[ref])
    await backend.set_priority(report_id, "high")
    await export_report(backend, report_id, tmp_path / "bundle", [reviewer])
    bundle = tmp_path / "bundle"
    assert check_custody_chain(bundle) == []
    lines = [json.loads(line) for line in _lines(bundle)]
    assert [("seq" in line, line.get("n")) for line in lines] == [
        (True, None), (True, None), (False, 1), (False, 2)
    ]
    first = decode_custody(lines[2]["entry"].encode())
    assert first.legacy == (lines[0]["entry_sha256"], lines[1]["entry_sha256"])
    assert (await trail.verify()).ok

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    kept = [line for line in _lines(copy) if '"seq":' not in line or "old" not in line
            or "access.opened" not in line]
    _write_lines(copy, kept)
    dropped = json.loads(next(line for line in _lines(bundle) if line not in kept))
    (copy / dropped["entry_file"]).unlink()
    (copy / dropped["signature_file"]).unlink()
    assert _reasons(copy) == [
        f"the entry from before the chain with SHA-256 {dropped['entry_sha256']}, named by "
        "custody entry 1, is missing: an entry was dropped"
    ]


async def test_intake_audit_verify_checks_each_reports_chain(storage: Storage) -> None:
    """A chain entry deleted from the store (rows, not a bundle) fails `intake audit verify`,
    naming the report's chain and the missing number; the whole trail is intact otherwise."""
    from sqlalchemy import delete

    from storage.models import CustodyEntryRow

    custody, _reviewer, report_id, backend = await _store(storage)
    trail = AuditTrail(storage.audit, custody)
    for status in ("triaged", "in_progress", "closed"):
        await backend.set_status(report_id, status)
    assert (await trail.verify()).ok
    ref = bytes.fromhex(report_ref(report_id))
    async with storage.engine.begin() as connection:
        await connection.execute(delete(CustodyEntryRow).where(
            CustodyEntryRow.report_ref == ref, CustodyEntryRow.n == 2))
    result = await trail.verify()
    assert not result.ok
    assert result.problem == (
        f"entry 3 of the chain of custody of report ref {ref.hex()}: entry 2 is missing "
        "(found 3 in its place)"
    )
