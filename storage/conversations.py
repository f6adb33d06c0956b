"""Conversations between updates: one sealed state per chat, a sealed outbox, idempotency marks.

Everything here is opaque to storage: `sealed` bytes come sealed with the draft key (which is
not in the database; see crypto/drafts.py), chat keys and update keys are keyed pseudonyms.
Storage only keeps them, orders the outbox per chat and makes each update's writes one
transaction. No exact time is stored: expiry is rounded up to the hour, days are dates.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import ChatStateRow, OutboxRow, ProcessedUpdateRow, ReportRow
from storage.records import NewReport
from storage.repositories import DuplicateSubmission, report_row
from storage.rows import release_freed_space

_SECONDS_PER_HOUR: Final = 3600


class AlreadyProcessed(Exception):
    """This update's idempotency mark exists: it was committed before. Nothing was written."""

    def __init__(self) -> None:
        super().__init__("this update was already processed")


class Unchanged(enum.Enum):
    UNCHANGED = "unchanged"


# Passed as `state` to `delivered`: leave the chat's sealed state as it is.
UNCHANGED: Final = Unchanged.UNCHANGED


@dataclass(frozen=True)
class OutboxEntry:
    entry_id: str
    chat_key: str
    seq: int
    sealed: bytes
    # The UTC day the row was committed (and so, within a second or so, sealed).
    day: dt.date


@dataclass(frozen=True)
class SweepCounts:
    states: int
    marks: int
    outbox: int


def expiry_hour(expires: dt.datetime) -> int:
    """Hours since 1970-01-01T00:00Z, rounded up: the first whole hour at or after `expires`.

    A naive datetime is taken as UTC.
    """
    seconds = _utc(expires).timestamp()
    return -int(-seconds // _SECONDS_PER_HOUR)


def _current_hour(now: dt.datetime) -> int:
    return int(_utc(now).timestamp() // _SECONDS_PER_HOUR)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ConversationRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def load(self, chat_key: str, *, now: dt.datetime | None = None) -> bytes | None:
        """The chat's sealed state, or None if there is none or it has expired."""
        hour = _current_hour(now or _utc_now())
        async with self._sessions() as session:
            sealed: bytes | None = await session.scalar(
                select(ChatStateRow.sealed).where(
                    ChatStateRow.chat_key == chat_key, ChatStateRow.expires_hour > hour
                )
            )
        return sealed

    async def is_processed(self, update_key: bytes) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(
                select(ProcessedUpdateRow.day).where(ProcessedUpdateRow.update_key == update_key)
            )
        return found is not None

    async def snapshot(
        self, chat_key: str, update_keys: Sequence[bytes], *, now: dt.datetime | None = None
    ) -> tuple[set[bytes], bytes | None]:
        """Which of `update_keys` are marked processed, and the chat's sealed state (as `load`).

        What an update reads before it runs, on one connection: the hot path of every update.
        """
        hour = _current_hour(now or _utc_now())
        async with self._sessions() as session:
            marked = set((await session.scalars(
                select(ProcessedUpdateRow.update_key).where(
                    ProcessedUpdateRow.update_key.in_(list(update_keys))
                )
            )).all()) if update_keys else set()
            sealed: bytes | None = await session.scalar(
                select(ChatStateRow.sealed).where(
                    ChatStateRow.chat_key == chat_key, ChatStateRow.expires_hour > hour
                )
            )
        return marked, sealed

    async def head(self, chat_key: str) -> tuple[str | None, bytes | None]:
        """The id of the chat's oldest waiting message and its sealed state as stored (expired
        or not), in one query: enough to tell whether what this process last wrote for the
        chat is still what the database holds."""
        first = (
            select(OutboxRow.id).where(OutboxRow.chat_key == chat_key)
            .order_by(OutboxRow.seq).limit(1).scalar_subquery()
        )
        state = select(ChatStateRow.sealed).where(
            ChatStateRow.chat_key == chat_key
        ).scalar_subquery()
        async with self._sessions() as session:
            row = (await session.execute(select(first, state))).one()
        return row[0], row[1]

    async def has_pending(self, chat_key: str) -> bool:
        """Whether anything of the chat's waits in the outbox."""
        async with self._sessions() as session:
            found = await session.scalar(
                select(OutboxRow.id).where(OutboxRow.chat_key == chat_key).limit(1)
            )
        return found is not None

    async def commit_update(
        self,
        *,
        chat_key: str,
        update_key: bytes | None,
        state: bytes | None,
        expires: dt.datetime,
        outbox: Sequence[bytes],
        report: NewReport | None = None,
        today: dt.date | None = None,
        more_update_keys: Sequence[bytes] = (),
        bot: str | None = None,
    ) -> list[OutboxEntry]:
        """Write everything one update produced, in one transaction.

        Replaces the chat's state (`None` deletes it), appends `outbox` after the chat's last
        pending message, inserts the update's mark and, for a submission, the report with its
        items. Raises AlreadyProcessed if the mark exists and DuplicateSubmission if the
        report's submission key exists; nothing is written then. `today` (the UTC day by
        default) is the day recorded on the outbox rows and the mark. `more_update_keys`
        marks further updates processed with this one (the other parts of an album). `bot`
        tags the outbox rows with the bot that sends them (None: the deployment's own).

        The first entry's `seq` is 0 exactly when nothing of the chat's was waiting before.
        """
        day = today or _utc_now().date()
        marks = [
            {"update_key": key, "day": day}
            for key in (update_key, *more_update_keys) if key is not None
        ]
        try:
            async with self._sessions.begin() as session:
                if report is not None:
                    existing = await _report_with_submission_key(session, report.submission_key)
                    if existing is not None:
                        # The reads need not share a snapshot: another worker may have
                        # committed this very update (mark and report) between the two.
                        if update_key is not None and await _marked(session, update_key):
                            raise AlreadyProcessed()
                        raise DuplicateSubmission(existing)
                # The marks first: a mark already stored (this update was committed before,
                # by us or another worker) fails here, and the transaction writes nothing.
                if marks:
                    await session.execute(insert(ProcessedUpdateRow), marks)
                await _write_state(session, chat_key, state, expires)
                entries = await _append_outbox(session, chat_key, outbox, day, bot)
                if report is not None:
                    session.add(report_row(report))
        except IntegrityError:
            # The update was committed before (its mark exists), or another worker committed
            # the same submission between our check and our commit; say which.
            if update_key is not None and await self.is_processed(update_key):
                raise AlreadyProcessed() from None
            if report is not None:
                async with self._sessions() as session:
                    existing = await _report_with_submission_key(session, report.submission_key)
                if existing is not None:
                    raise DuplicateSubmission(existing) from None
            raise
        return entries

    async def pending(self, chat_key: str) -> list[OutboxEntry]:
        """The chat's messages waiting to be sent, in order."""
        async with self._sessions() as session:
            rows = (await session.execute(
                select(OutboxRow.id, OutboxRow.seq, OutboxRow.sealed, OutboxRow.day)
                .where(OutboxRow.chat_key == chat_key).order_by(OutboxRow.seq)
            )).all()
        return [OutboxEntry(entry_id=row.id, chat_key=chat_key, seq=row.seq, sealed=row.sealed,
                            day=row.day) for row in rows]

    async def chats_with_pending(
        self, limit: int = 100, *, after: str = "", bot: str | None = None
    ) -> list[str]:
        """Up to `limit` chats of one bot (None: the deployment's own) with something in the
        outbox, in pseudonym order (not age).

        Pass the last chat key of a page as `after` for the next one, so chats whose messages
        cannot be delivered yet do not hide the others.
        """
        of_bot = OutboxRow.bot.is_(None) if bot is None else OutboxRow.bot == bot
        async with self._sessions() as session:
            found = await session.scalars(
                select(OutboxRow.chat_key)
                .where(OutboxRow.chat_key > after, of_bot)
                .distinct()
                .order_by(OutboxRow.chat_key)
                .limit(limit)
            )
            return list(found.all())

    async def delivered(
        self,
        entry_id: str,
        *,
        chat_key: str,
        state: bytes | Literal[Unchanged.UNCHANGED] | None = UNCHANGED,
        expires: dt.datetime | None = None,
    ) -> None:
        """Delete a sent outbox row and, if `state` is given, replace (or with None delete)
        the chat's state, in one transaction. Deleting a row already gone is not an error."""
        if isinstance(state, bytes) and expires is None:
            raise ValueError("a new chat state needs its expiry")
        async with self._sessions.begin() as session:
            await session.execute(
                delete(OutboxRow).where(OutboxRow.id == entry_id, OutboxRow.chat_key == chat_key)
            )
            if state is not UNCHANGED:
                await _write_state(session, chat_key, state, expires)

    async def sweep(
        self, *, now: dt.datetime, marks_before: dt.date, outbox_before: dt.date
    ) -> SweepCounts:
        """Delete expired chat states, marks from before `marks_before` and outbox rows (never
        delivered) from before `outbox_before`; return how many of each."""
        async with self._sessions.begin() as session:
            states = await session.execute(
                delete(ChatStateRow).where(ChatStateRow.expires_hour <= _current_hour(now))
            )
            marks = await session.execute(
                delete(ProcessedUpdateRow).where(ProcessedUpdateRow.day < marks_before)
            )
            outbox = await session.execute(delete(OutboxRow).where(OutboxRow.day < outbox_before))
        return SweepCounts(
            states=_rowcount(states), marks=_rowcount(marks), outbox=_rowcount(outbox)
        )


    async def release_freed_space(self) -> None:
        """Push deleted conversation rows out of the database files (rows.release_freed_space)."""
        await release_freed_space(self._sessions, ("chat_states", "outbox", "processed_updates"))


async def _marked(session: AsyncSession, update_key: bytes) -> bool:
    found = await session.scalar(
        select(ProcessedUpdateRow.day).where(ProcessedUpdateRow.update_key == update_key)
    )
    return found is not None


async def _report_with_submission_key(session: AsyncSession, key: bytes) -> str | None:
    found: str | None = await session.scalar(
        select(ReportRow.id).where(ReportRow.submission_key == key)
    )
    return found


async def _write_state(
    session: AsyncSession, chat_key: str, state: bytes | None, expires: dt.datetime | None
) -> None:
    if state is None:
        await session.execute(delete(ChatStateRow).where(ChatStateRow.chat_key == chat_key))
        return
    if expires is None:
        raise ValueError("a new chat state needs its expiry")
    values = {"chat_key": chat_key, "sealed": state, "expires_hour": expiry_hour(expires)}
    replace = {"sealed": state, "expires_hour": values["expires_hour"]}
    if session.get_bind().dialect.name == "postgresql":
        # Each dialect's module is loaded by its engine already; importing it here, not at the
        # top, keeps PostgreSQL's (about 2 MB) out of a process that runs on SQLite.
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(ChatStateRow).values(values)
        await session.execute(pg.on_conflict_do_update(index_elements=["chat_key"], set_=replace))
    else:
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(ChatStateRow).values(values)
        await session.execute(
            lite.on_conflict_do_update(index_elements=["chat_key"], set_=replace)
        )


async def _append_outbox(
    session: AsyncSession, chat_key: str, outbox: Sequence[bytes], day: dt.date,
    bot: str | None = None,
) -> list[OutboxEntry]:
    if not outbox:
        return []
    last = await session.scalar(
        select(func.max(OutboxRow.seq)).where(OutboxRow.chat_key == chat_key)
    )
    first = 0 if last is None else last + 1
    entries = [
        OutboxEntry(
            entry_id=secrets.token_hex(16), chat_key=chat_key, seq=first + offset,
            sealed=sealed, day=day,
        )
        for offset, sealed in enumerate(outbox)
    ]
    await session.execute(insert(OutboxRow), [
        {"id": e.entry_id, "chat_key": chat_key, "seq": e.seq, "sealed": e.sealed, "day": day,
         "bot": bot}
        for e in entries
    ])
    return entries


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount
