"""Retention: crypto-shredding reports that have been kept as long as the organisation decided.

The period is per status (INTAKE_RETENTION_DAYS, e.g. `closed=90,rejected=30`) and counts from
the day a retention run first sees the report in that status, not from the day it was received:
closing a six-month-old report must not shred it at the next run, before anyone could export
it. Each run therefore does two things:

1. schedule: a report in a status with a period and no `reports.expires_on` gets
   `expires_on = today + period`; a report whose status has no period (it was reopened) loses
   its `expires_on`, which stops the clock;
2. shred: each report still in such a status whose `expires_on` is today or earlier is deleted
   (its headers, and with them the only wrapped copies of its file keys, first, in one
   transaction with the report row), recorded in the audit trail, then its payload blobs are
   deleted.

Each channel has its own periods (`intake channel set SLUG --retention ...`; unset: the
deployment's), and a run treats each channel's reports by its own (`run_retention_by_channel`).

Run it daily (a systemd timer or cron): a report expires at most a day late, never early. An
expiry date, once set, is kept while the report stays in a status with a period; a changed
period applies to reports scheduled after the change.

What remains after a shred: the audit trail's entries for the report (its random id, staff
names, states; never content), and copies outside our reach: database backups, PostgreSQL's WAL
archive, reviewers' pulled folders and exports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from review.audit import AuditTrail
from storage import DEFAULT_CHANNEL, Storage
from storage.retention import ShreddedReport


class RetentionError(Exception):
    """Retention cannot run as configured; the message says how to fix it."""


@dataclass
class RetentionResult:
    scheduled: int = 0
    cleared: int = 0
    shredded: list[str] = field(default_factory=list)
    # Reports that would be shredded (dry runs only).
    due: list[str] = field(default_factory=list)


async def shred_report(
    storage: Storage, report_id: str, *, audit: AuditTrail, actor: str, reason: str
) -> bool:
    """Crypto-shred one report now (a witness's /forget, say): headers, then payloads.

    Returns False if there was no such report. `reason` goes into the audit trail: a short
    word such as "retention" or "witness_request", never free text.
    """
    shredded = await storage.reports.shred(report_id)
    if shredded is None:
        return False
    await _finish(storage, shredded, audit, actor, reason)
    return True


async def _finish(
    storage: Storage, shredded: ShreddedReport, audit: AuditTrail, actor: str, reason: str
) -> None:
    """Record a shred whose rows are deleted, then delete its (now undecryptable) payloads."""
    await audit.record(actor, "report.shred", shredded.report_id, {
        "reason": reason, "status": shredded.status, "items": len(shredded.item_ids),
    })
    for name in shredded.item_ids:
        storage.blobs.delete(name)


async def run_retention(
    storage: Storage,
    periods: Mapping[str, int],
    *,
    audit: AuditTrail,
    actor: str,
    today: dt.date | None = None,
    dry_run: bool = False,
    channel: str | None = None,
) -> RetentionResult:
    """Schedule expiry dates and shred the reports whose date has come (see the module doc);
    only `channel`'s reports when it is given."""
    if not periods:
        raise RetentionError(
            "no retention period is configured: set INTAKE_RETENTION_DAYS, for example "
            "closed=90,rejected=30 (days a report is kept once it has that status)"
        )
    today = today or dt.datetime.now(dt.UTC).date()
    result = RetentionResult()
    if dry_run:
        result.due = [
            i async for i in storage.reports.expired(periods.keys(), today, channel=channel)
        ]
        return result
    result.scheduled, result.cleared = await storage.reports.schedule_expiry(
        periods, today, channel=channel
    )
    if result.scheduled or result.cleared:
        scope = {} if channel in (None, DEFAULT_CHANNEL) else {"channel": channel}
        await audit.record(actor, "retention.schedule", None, {
            "scheduled": result.scheduled, "cleared": result.cleared, "periods": dict(periods),
            **scope,
        })
    async for report_id in storage.reports.expired(periods.keys(), today, channel=channel):
        # Checked again inside the shredding transaction: a report reopened since the
        # listing above is kept.
        shredded = await storage.reports.shred(
            report_id, statuses=periods.keys(), expired_on=today
        )
        if shredded is not None:
            await _finish(storage, shredded, audit, actor, "retention")
            result.shredded.append(report_id)
    if result.shredded:
        await storage.reports.release_freed_space()
    return result


async def run_retention_by_channel(
    storage: Storage,
    periods_by_channel: Mapping[str, Mapping[str, int]],
    *,
    audit: AuditTrail,
    actor: str,
    today: dt.date | None = None,
    dry_run: bool = False,
) -> RetentionResult:
    """Run retention for each channel with its own periods; a channel without any is kept.

    With only the `default` channel this is exactly `run_retention` over every report.
    """
    if not any(periods_by_channel.values()):
        raise RetentionError(
            "no retention period is configured: set INTAKE_RETENTION_DAYS, for example "
            "closed=90,rejected=30 (days a report is kept once it has that status), or a "
            "channel's own with `intake channel set SLUG --retention ...`"
        )
    total = RetentionResult()
    for channel, periods in sorted(periods_by_channel.items()):
        if not periods:
            continue
        result = await run_retention(
            storage, periods, audit=audit, actor=actor, today=today, dry_run=dry_run,
            channel=channel,
        )
        total.scheduled += result.scheduled
        total.cleared += result.cleared
        total.shredded += result.shredded
        total.due += result.due
    return total
