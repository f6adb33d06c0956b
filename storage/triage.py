"""Triage state of reports: status, priority, assignee, labels, sealed notes, witness messages.

Everything written here is either allowlisted metadata (status, priority, a staff member's name,
a reviewer-chosen label) or an age file the reviewer sealed on their own machine. Nothing here
can read a note or a message; the repository only checks shapes and lengths.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import LabelRow, NoteRow, ReportRow, WitnessMessageRow

# Short, lowercase, and free of punctuation that could smuggle structure (commas, slashes,
# quotes) into listings or filters. The column holds 48 characters.
_LABEL = re.compile(r"[a-z0-9][a-z0-9 _-]{0,47}")


class UnknownReportError(LookupError):
    """No report has this id (it never existed, or retention has shredded it)."""

    def __init__(self, report_id: str) -> None:
        super().__init__(f"no report {report_id}")
        self.report_id = report_id


def validate_label(label: str) -> str:
    """The label itself if it is acceptable; ValueError naming the rule otherwise."""
    if not _LABEL.fullmatch(label) or label != label.strip():
        raise ValueError(
            "labels are 1-48 lowercase letters, digits, spaces, dashes or underscores, "
            "starting with a letter or digit and not ending in a space"
        )
    return label


@dataclass(frozen=True)
class NoteRecord:
    note_id: str
    report_id: str
    author: str
    created_on: dt.date
    sealed: bytes


@dataclass(frozen=True)
class WitnessMessageRecord:
    message_id: str
    report_id: str
    created_on: dt.date
    sealed: bytes


class TriageRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def set_status(self, report_id: str, status: str) -> str:
        """Set the status; returns the one before.

        A new status restarts the retention clock: retention counts from the first run that
        sees a report in its current status (review/retention.py).
        """
        async with self._sessions.begin() as session:
            row = await _report(session, report_id)
            previous = row.status
            if previous != status:
                row.status = status
                row.expires_on = None
        return previous

    async def set_priority(self, report_id: str, priority: str) -> str:
        """Set the priority; returns the one before."""
        return await self._set(report_id, "priority", priority)

    async def set_assignee(self, report_id: str, assignee: str | None) -> str | None:
        """Set (or with None, clear) the assignee; returns the one before."""
        async with self._sessions.begin() as session:
            row = await _report(session, report_id)
            previous = row.assignee
            row.assignee = assignee
        return previous

    async def _set(self, report_id: str, column: str, value: str) -> str:
        async with self._sessions.begin() as session:
            row = await _report(session, report_id)
            previous = str(getattr(row, column))
            setattr(row, column, value)
        return previous

    async def add_label(self, report_id: str, label: str) -> bool:
        """Put a label on a report; False if it was already there."""
        validate_label(label)
        try:
            async with self._sessions.begin() as session:
                report = await _report(session, report_id)
                present = await session.get(LabelRow, (report_id, label))
                if present is not None:
                    return False
                session.add(LabelRow(
                    report_id=report_id, label=label, received_day=report.received_day
                ))
        except IntegrityError:
            # Two reviewers added the same label at once: the other one won, which is the same.
            return False
        return True

    async def remove_label(self, report_id: str, label: str) -> bool:
        """Take a label off a report; False if it was not there."""
        async with self._sessions.begin() as session:
            await _report(session, report_id)
            present = await session.get(LabelRow, (report_id, label))
            if present is None:
                return False
            await session.delete(present)
        return True

    async def labels(self, report_id: str) -> tuple[str, ...]:
        async with self._sessions() as session:
            await _report(session, report_id)
            found = await session.scalars(
                select(LabelRow.label).where(LabelRow.report_id == report_id).order_by(
                    LabelRow.label
                )
            )
            return tuple(found.all())

    async def add_note(
        self, report_id: str, note_id: str, author: str, day: dt.date, sealed: bytes
    ) -> NoteRecord:
        async with self._sessions.begin() as session:
            await _report(session, report_id)
            session.add(NoteRow(
                id=note_id, report_id=report_id, author=author, created_on=day, sealed=sealed
            ))
        return NoteRecord(note_id, report_id, author, day, sealed)

    async def notes(self, report_id: str) -> list[NoteRecord]:
        """A report's notes, oldest day first (the order within a day is not kept)."""
        async with self._sessions() as session:
            await _report(session, report_id)
            rows: Sequence[NoteRow] = (await session.scalars(
                select(NoteRow)
                .where(NoteRow.report_id == report_id)
                .order_by(NoteRow.created_on, NoteRow.id)
            )).all()
        return [NoteRecord(r.id, r.report_id, r.author, r.created_on, r.sealed) for r in rows]

    async def add_witness_message(
        self, report_id: str, message_id: str, day: dt.date, sealed: bytes
    ) -> WitnessMessageRecord:
        async with self._sessions.begin() as session:
            await _report(session, report_id)
            session.add(WitnessMessageRow(
                id=message_id, report_id=report_id, created_on=day, sealed=sealed
            ))
        return WitnessMessageRecord(message_id, report_id, day, sealed)

    async def witness_messages(self, report_id: str) -> list[WitnessMessageRecord]:
        async with self._sessions() as session:
            await _report(session, report_id)
            rows: Sequence[WitnessMessageRow] = (await session.scalars(
                select(WitnessMessageRow)
                .where(WitnessMessageRow.report_id == report_id)
                .order_by(WitnessMessageRow.created_on, WitnessMessageRow.id)
            )).all()
        return [WitnessMessageRecord(r.id, r.report_id, r.created_on, r.sealed) for r in rows]


async def _report(session: AsyncSession, report_id: str) -> ReportRow:
    row = await session.get(ReportRow, report_id)
    if row is None:
        raise UnknownReportError(report_id)
    return row
