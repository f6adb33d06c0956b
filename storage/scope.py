"""The channel filter every repository applies: one definition, so no query widens it."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute

from storage.models import ReportRow


def reports_of(channel: str | None) -> tuple[ColumnElement[bool], ...]:
    """Conditions on ReportRow for one channel's reports (none when `channel` is None: all)."""
    return () if channel is None else (ReportRow.channel == channel,)


def rows_of(
    report_id: InstrumentedAttribute[str], channel: str | None
) -> tuple[ColumnElement[bool], ...]:
    """Conditions for rows (items, notes, messages) whose `report_id` is one of `channel`'s
    reports (none when `channel` is None: all)."""
    if channel is None:
        return ()
    return (report_id.in_(select(ReportRow.id).where(*reports_of(channel))),)
