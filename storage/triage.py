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

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from storage.models import LabelRow, NoteRow, ReportRow, WitnessMessageRow
from storage.scope import rows_of

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


# --- key rotation of sealed records (review/sealed_records.py) -------------------------------

# The sealed records besides report items that are wrapped to reviewer recipients.
RECORD_KINDS: tuple[str, ...] = ("note", "witness_message")


@dataclass(frozen=True)
class SealedRecordRef:
    """A note or message for the witness as key rotation sees it."""

    kind: str
    record_id: str
    report_id: str
    sealed: bytes
    # The report's witness recipient, for messages (their witness stanza must be kept).
    witness_recipient: str | None
    wrapped_to: str | None


@dataclass(frozen=True)
class SealedReplacement:
    """Swap `expected_old` for `new_sealed` only if the row still holds `expected_old`."""

    kind: str
    record_id: str
    expected_old: bytes
    new_sealed: bytes
    wrapped_to: str


def _table(kind: str) -> type[NoteRow] | type[WitnessMessageRow]:
    if kind == "note":
        return NoteRow
    if kind == "witness_message":
        return WitnessMessageRow
    raise ValueError(f"unknown sealed record kind {kind!r}")


class SealedRecordRepository:
    """Notes and messages for the witness, paged for re-wrapping and swapped by compare-and-swap.

    Whom a record is wrapped to is recorded as `wrapped_to` (sorted key ids joined by spaces) by
    the re-wrap that wrote it; NULL means not known, so such rows are always candidates.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def count_for_rewrap(
        self, kind: str, wrapped_to: str, *, channel: str | None = None
    ) -> int:
        table = _table(kind)
        async with self._sessions() as session:
            found = await session.scalar(
                select(func.count()).select_from(table)
                .where(_not_wrapped_to(table, wrapped_to), *rows_of(table.report_id, channel))
            )
        return int(found or 0)

    async def for_rewrap(
        self, kind: str, wrapped_to: str, *, after: str, limit: int, channel: str | None = None
    ) -> list[SealedRecordRef]:
        """The next page (by id) of records not known to be wrapped to exactly `wrapped_to`."""
        table = _table(kind)
        async with self._sessions() as session:
            rows = (await session.execute(
                select(table.id, table.report_id, table.sealed, table.wrapped_to,
                       ReportRow.witness_recipient)
                .join(ReportRow, ReportRow.id == table.report_id)
                .where(_not_wrapped_to(table, wrapped_to), table.id > after)
                .where(*rows_of(table.report_id, channel))
                .order_by(table.id)
                .limit(limit)
            )).all()
        return [_ref(kind, row) for row in rows]

    async def refs(
        self, kind: str, *, key_id: str | None = None, channel: str | None = None
    ) -> list[str]:
        """Ids of every record (of one channel's reports, when given), or of those that may be
        wrapped to `key_id` (or not known)."""
        table = _table(kind)
        query = select(table.id).where(*rows_of(table.report_id, channel)).order_by(table.id)
        if key_id is not None:
            query = query.where(
                or_(table.wrapped_to.is_(None), table.wrapped_to.contains(key_id))
            )
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())

    async def get(self, kind: str, record_id: str) -> SealedRecordRef | None:
        table = _table(kind)
        async with self._sessions() as session:
            row = (await session.execute(
                select(table.id, table.report_id, table.sealed, table.wrapped_to,
                       ReportRow.witness_recipient)
                .join(ReportRow, ReportRow.id == table.report_id)
                .where(table.id == record_id)
            )).first()
        return None if row is None else _ref(kind, row)

    async def replace(self, replacements: Sequence[SealedReplacement]) -> list[SealedReplacement]:
        """Swap each in one transaction; returns those refused (changed or deleted meanwhile)."""
        rejected: list[SealedReplacement] = []
        if not replacements:
            return rejected
        async with self._sessions.begin() as session:
            for change in replacements:
                table = _table(change.kind)
                result = await session.execute(
                    update(table)
                    .where(table.id == change.record_id, table.sealed == change.expected_old)
                    .values(sealed=change.new_sealed, wrapped_to=change.wrapped_to)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) != 1:
                    rejected.append(change)
        return rejected


def _not_wrapped_to(
    table: type[NoteRow] | type[WitnessMessageRow], wrapped_to: str
) -> ColumnElement[bool]:
    return or_(table.wrapped_to.is_(None), table.wrapped_to != wrapped_to)


def _ref(kind: str, row: Row[str, str, bytes, str | None, str | None]) -> SealedRecordRef:
    record_id, report_id, sealed, wrapped_to, witness = row
    return SealedRecordRef(
        kind, record_id, report_id, sealed, witness if kind == "witness_message" else None,
        wrapped_to,
    )


async def _report(session: AsyncSession, report_id: str) -> ReportRow:
    row = await session.get(ReportRow, report_id)
    if row is None:
        raise UnknownReportError(report_id)
    return row
