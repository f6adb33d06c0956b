"""Sealed reports on two days, anchored with a real local TSA, and exported as a bundle."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

import crypto
from review.audit import AuditTrail
from review.evidence.anchor import Anchorer, AnchorRun
from review.evidence.tsa import TsaConfig
from review.export import export_report
from review.local import LocalBackend
from storage import Storage
from tests.review.sealed_reports import sealed_report
from tests.review.tsa import LocalTsa

DAY_1 = dt.date(2026, 11, 20)
DAY_2 = dt.date(2026, 11, 21)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Anchored:
    storage: Storage
    custody_key: bytes
    reviewer: crypto.X25519Identity
    report_1: str
    report_2: str
    clock: Clock
    anchorer: Anchorer
    first_run: AnchorRun

    async def export(self, out: Path, report_id: str | None = None) -> Path:
        backend = LocalBackend(self.storage, AuditTrail(self.storage.audit, self.custody_key),
                               "alice", custody_key=self.custody_key)
        await export_report(backend, report_id or self.report_1, out, [self.reviewer],
                            evidence=self.storage.evidence)
        return out


def recent_days() -> tuple[dt.date, dt.date]:
    """The two days before today: a real authority's token (dated now) is then less than a day
    after them, as in production, so no receipt-to-proof gap warning is due."""
    today = dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=2), today - dt.timedelta(days=1)


async def two_days_anchored(
    storage: Storage, tsa: LocalTsa, days: tuple[dt.date, dt.date] = (DAY_1, DAY_2)
) -> Anchored:
    """One report received on the first day (with an audit entry that day), one on the second;
    the anchoring runs at the second + 1 day, 02:00 UTC, when both days are closed."""
    day_1, day_2 = days
    custody_key = secrets.token_bytes(32)
    reviewer = crypto.generate_identity()
    photo = b"\xff\xd8\xff" + secrets.token_bytes(3000) + b"\xff\xd9"
    report_1 = await sealed_report(storage, custody_key, [reviewer.recipient],
                                   attachments=[photo], working_copies=True, day=day_1)
    report_2 = await sealed_report(storage, custody_key, [reviewer.recipient], day=day_2)
    trail = AuditTrail(storage.audit, custody_key, clock=lambda: at(day_1, 15))
    await trail.record("alice", "status", report_1, {"status": "in_review"})
    clock = Clock(at(day_2 + dt.timedelta(days=1), 2))
    anchorer = Anchorer(storage.evidence, [TsaConfig(tsa.url, tsa.pki.ca_cert.read_bytes())],
                        clock=clock)
    run = await anchorer.run_once()
    return Anchored(storage, custody_key, reviewer, report_1, report_2, clock, anchorer, run)
