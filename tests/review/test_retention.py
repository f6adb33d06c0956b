"""Retention on real stores: only expired reports are shredded, headers first, no blob left."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

import crypto
from cli.main import main
from cli.setting_checks import parse_retention
from review.audit import AuditTrail
from review.retention import RetentionError, run_retention, shred_report
from storage import Storage
from storage.models import ItemRecipientRow, ItemRow, ReportRow
from storage.triage import UnknownReportError
from tests.review.sealed_reports import sealed_report

CUSTODY = secrets.token_bytes(32)
DAY0 = dt.date(2026, 12, 1)
PERIODS = {"closed": 10, "rejected": 5}


async def _report(storage: Storage, status: str) -> str:
    recipient = crypto.generate_identity().recipient
    report_id = await sealed_report(storage, CUSTODY, [recipient], attachments=[b"x" * 100])
    await storage.triage.add_label(report_id, "to-check")
    await storage.triage.add_note(report_id, secrets.token_hex(16), "alice", DAY0, b"sealed")
    if status != "new":
        await storage.triage.set_status(report_id, status)
    return report_id


async def _item_ids(storage: Storage, report_id: str) -> set[str]:
    report = await storage.reports.get(report_id)
    assert report is not None
    return {item.item_id for item in report.items}


async def test_only_expired_reports_are_shredded_and_no_blob_is_left(storage: Storage) -> None:
    """Periods count from the first run that sees the status; reopening stops the clock."""
    audit = AuditTrail(storage.audit, CUSTODY)
    closed = await _report(storage, "closed")
    rejected = await _report(storage, "rejected")
    fresh = await _report(storage, "new")
    reopened = await _report(storage, "closed")
    kept_blobs = await _item_ids(storage, fresh) | await _item_ids(storage, reopened)

    first = await run_retention(storage, PERIODS, audit=audit, actor="cron", today=DAY0)
    assert (first.scheduled, first.cleared, first.shredded) == (3, 0, [])

    # Reopening restarts the clock at once (set_status clears the expiry), not at the next run.
    await storage.triage.set_status(reopened, "in_progress")
    early = await run_retention(
        storage, PERIODS, audit=audit, actor="cron", today=DAY0 + dt.timedelta(days=4)
    )
    assert (early.cleared, early.shredded) == (0, [])
    due = await run_retention(
        storage, PERIODS, audit=audit, actor="cron", today=DAY0 + dt.timedelta(days=5),
        dry_run=True,
    )
    assert due.due == [rejected] and await storage.reports.get(rejected) is not None

    fifth = await run_retention(
        storage, PERIODS, audit=audit, actor="cron", today=DAY0 + dt.timedelta(days=5)
    )
    assert fifth.shredded == [rejected]
    tenth = await run_retention(
        storage, PERIODS, audit=audit, actor="cron", today=DAY0 + dt.timedelta(days=30)
    )
    assert tenth.shredded == [closed]

    assert await storage.reports.get(closed) is None and await storage.reports.get(rejected) is None
    assert await storage.reports.get(fresh) is not None
    assert await storage.reports.get(reopened) is not None
    assert set(storage.blobs.names()) == kept_blobs
    for gone in (closed, rejected):
        with pytest.raises(UnknownReportError):
            await storage.triage.labels(gone)
        with pytest.raises(UnknownReportError):
            await storage.triage.notes(gone)
    async with storage.engine.connect() as connection:
        rows = (await connection.execute(ItemRow.__table__.select())).all()
        keyed = (await connection.execute(ItemRecipientRow.__table__.select())).all()
    assert {row.id for row in rows} == kept_blobs
    assert {row.item_id for row in keyed} == kept_blobs

    shreds = [e for e in await audit.entries() if e.action == "report.shred"]
    assert [(e.report_id, e.details) for e in shreds] == [
        (rejected, {"reason": "retention", "status": "rejected", "items": 2}),
        (closed, {"reason": "retention", "status": "closed", "items": 2}),
    ]
    assert (await audit.verify()).ok


async def test_a_report_reopened_after_listing_is_kept(storage: Storage) -> None:
    """The expiry is checked again inside the shredding transaction."""
    report_id = await _report(storage, "closed")
    await storage.reports.schedule_expiry(PERIODS, DAY0)
    await storage.triage.set_status(report_id, "triaged")
    later = DAY0 + dt.timedelta(days=30)
    assert await storage.reports.shred(report_id, statuses=PERIODS, expired_on=later) is None
    assert await storage.reports.get(report_id) is not None


async def test_shred_report_now_for_a_witness_request(storage: Storage) -> None:
    """shred_report deletes any report at once and records why; a second call finds nothing."""
    audit = AuditTrail(storage.audit, CUSTODY)
    report_id = await _report(storage, "new")
    assert await shred_report(
        storage, report_id, audit=audit, actor="bot", reason="witness_request"
    )
    assert storage.blobs.names() == []
    assert not await shred_report(
        storage, report_id, audit=audit, actor="bot", reason="witness_request"
    )
    (entry,) = await audit.entries()
    assert entry.details == {"reason": "witness_request", "status": "new", "items": 2}


async def test_retention_without_periods_names_the_setting(storage: Storage) -> None:
    """Running with no configured period refuses and names INTAKE_RETENTION_DAYS."""
    with pytest.raises(RetentionError, match="INTAKE_RETENTION_DAYS"):
        await run_retention(storage, {}, audit=AuditTrail(storage.audit, CUSTODY), actor="x")


async def test_retention_command(storage: Storage, database_url: str, tmp_path: Path) -> None:
    """`intake retention run` schedules, and later shreds, recording each shred in the trail."""
    report_id = await _report(storage, "rejected")
    env = {
        "INTAKE_DATA_DIR": str(tmp_path / "data"),
        "INTAKE_DATABASE_URL": database_url,
        "INTAKE_RETENTION_DAYS": "rejected=1",
    }

    def intake(*args: str) -> str:
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert "1 report(s) given an expiry date" in await asyncio.to_thread(
        intake, "retention", "run", "--actor", "cron"
    )
    # Pretend the day has passed: move the expiry date back instead of the clock forward.
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    async with storage.engine.begin() as connection:
        await connection.execute(update(ReportRow).values(expires_on=yesterday))
    assert "1 report(s) are due" in await asyncio.to_thread(
        intake, "retention", "run", "--dry-run"
    )
    output = await asyncio.to_thread(intake, "retention", "run", "--actor", "cron")
    assert f"shredded {report_id}" in output
    assert await storage.reports.get(report_id) is None
    assert "audit trail intact" in await asyncio.to_thread(intake, "audit", "verify")


def test_retention_setting_parses() -> None:
    """Pairs with spaces parse; an empty setting means no retention."""
    assert parse_retention(" closed = 90 , rejected=30 ") == {"closed": 90, "rejected": 30}
    assert parse_retention("") == {}
    with pytest.raises(ValueError, match="fix 'closed=-1'"):
        parse_retention("closed=-1")
