"""Channels, layer 4: re-wrapping and retention work per channel, and never touch another
channel's reports (compared byte for byte before and after)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from click.testing import CliRunner

import crypto
from cli.main import main
from review.audit import AuditTrail
from review.keys import rewrap_store
from review.local import LocalBackend
from review.recipients import remove_reviewer
from review.retention import run_retention_by_channel
from review.tools import seal_note
from storage import Storage
from storage.server_keys import load_or_create_server_keys
from tests.review.test_channels import _office, _submit
from tests.review.test_keys import age_open


async def _snapshot(storage: Storage, report_ids: list[str]) -> dict[str, object]:
    """Every header, recipient key id list and payload hash of these reports, and the rows."""
    found: dict[str, object] = {}
    for report_id in report_ids:
        report = await storage.reports.get(report_id)
        assert report is not None
        found[report_id] = (report.manifest, report.manifest_signature, report.summary)
        for item in report.items:
            with storage.blobs.open(item.item_id) as blob:
                payload = hashlib.sha256(blob.read()).hexdigest()
            found[item.item_id] = (item.header, item.recipient_key_ids, payload)
    return found


async def test_rewrapping_one_channel_leaves_the_other_byte_for_byte(
    storage: Storage, tmp_path: Path
) -> None:
    """After the partner removes its reviewer pat, re-wrapping the partner channel takes pat
    off its headers (the stock age CLI refuses pat), and the default channel's reports,
    headers and payloads are exactly as they were."""
    keys = await _office(storage, tmp_path)
    server = load_or_create_server_keys(tmp_path / "data")
    audit = AuditTrail(storage.audit, server.custody_key)
    partner = [await _submit(storage, server, "partner") for _ in range(2)]
    default = [await _submit(storage, server, "default") for _ in range(2)]
    before_default = await _snapshot(storage, default)
    before_partner = await _snapshot(storage, partner)

    await remove_reviewer(storage, "pat", audit=audit, actor="ops")
    result = await rewrap_store(
        storage, [keys["pat-vault"].identity], audit=audit, actor="ops", channel="partner"
    )
    assert result.complete and result.rewrapped == len(partner)
    assert result.target_key_ids == (keys["pat-vault"].key_id,)

    assert await _snapshot(storage, default) == before_default
    after_partner = await _snapshot(storage, partner)
    for report_id in partner:
        stored = await storage.reports.get(report_id)
        assert stored is not None
        for item in stored.items:
            old_header, _ids, old_payload = before_partner[item.item_id]  # type: ignore[misc]
            assert item.header != old_header
            assert after_partner[item.item_id][2] == old_payload  # type: ignore[index]
            assert item.recipient_key_ids == (keys["pat-vault"].key_id,)
            with storage.blobs.open(item.item_id) as blob:
                payload = blob.read()
            assert age_open(keys["pat"], item.header, payload, tmp_path) is None
            assert age_open(keys["pat-vault"], item.header, payload, tmp_path) is not None
            assert age_open(keys["dana"], item.header, payload, tmp_path) is None
    [entry] = [e for e in await audit.entries() if e.action == "keys.rewrap"]
    assert entry.details["channel"] == "partner"


async def test_rewrap_command_takes_a_channel(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    """`intake keys rewrap --channel partner` re-wraps the partner's reports only."""
    keys = await _office(storage, tmp_path)
    server = load_or_create_server_keys(tmp_path / "data")
    partner = await _submit(storage, server, "partner")
    default = await _submit(storage, server, "default")
    # Notes too: re-wrapping covers them, per channel like the items.
    for report_id, writer in ((default, "dana"), (partner, "pat")):
        backend = LocalBackend(storage, AuditTrail(storage.audit, server.custody_key), writer)
        await seal_note(backend, report_id, f"note by {writer}")
    before = await _snapshot(storage, [default])
    default_notes = await storage.triage.notes(default)
    partner_notes = await storage.triage.notes(partner)
    await remove_reviewer(storage, "pat")
    env = {"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_DATABASE_URL": database_url}
    import asyncio

    result = await asyncio.to_thread(CliRunner().invoke, main, [
        "keys", "rewrap", "--channel", "partner", "--identity", str(keys["pat-vault"].path),
        "--actor", "ops",
    ], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 item(s) to 1 recipient(s)" in result.output
    assert await _snapshot(storage, [default]) == before
    assert await storage.triage.notes(default) == default_notes
    [note] = await storage.triage.notes(partner)
    assert note.sealed != partner_notes[0].sealed
    header, offset = crypto.split_header(note.sealed)
    assert age_open(keys["pat"], header, note.sealed[offset:], tmp_path) is None
    assert age_open(keys["pat-vault"], header, note.sealed[offset:], tmp_path) is not None
    stored = await storage.reports.get(partner)
    assert stored is not None
    assert stored.items[0].recipient_key_ids == (keys["pat-vault"].key_id,)


async def test_retention_follows_each_channels_periods(storage: Storage, tmp_path: Path) -> None:
    """A partner keeping closed reports 10 days shreds them; the default channel, with no
    period of its own and none for the deployment, keeps its closed report."""
    await _office(storage, tmp_path)
    server = load_or_create_server_keys(tmp_path / "data")
    audit = AuditTrail(storage.audit, server.custody_key)
    partner = await _submit(storage, server, "partner")
    default = await _submit(storage, server, "default")
    for report_id in (partner, default):
        await storage.triage.set_status(report_id, "closed")
    periods = {"partner": {"closed": 10}, "default": {}}
    day = dt.date(2026, 6, 1)
    first = await run_retention_by_channel(storage, periods, audit=audit, actor="cron", today=day)
    assert (first.scheduled, first.shredded) == (1, [])
    later = await run_retention_by_channel(
        storage, periods, audit=audit, actor="cron", today=day + dt.timedelta(days=10)
    )
    assert later.shredded == [partner]
    assert await storage.reports.get(partner) is None
    assert await storage.reports.get(default) is not None
