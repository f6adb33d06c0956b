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

from sqlalchemy import bindparam, delete, func, insert, literal_column, select, union_all
from sqlalchemy.engine import Connection, CursorResult, Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import CompoundSelect

from storage.models import ChatStateRow, OutboxRow, ProcessedUpdateRow, ReportRow
from storage.records import NewReport
from storage.repositories import DuplicateSubmission, report_row
from storage.rows import release_freed_space
from storage.transactions import Transactions

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
    """The hot path of every update (snapshot, commit_update, head, delivered) runs each
    transaction as one synchronous function of a Core connection, in one hop to the database
    (storage/transactions.py); statements are built once, so SQLAlchemy compiles each once."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], transactions: Transactions
    ) -> None:
        self._sessions = sessions
        self._transactions = transactions

    async def load(self, chat_key: str, *, now: dt.datetime | None = None) -> bytes | None:
        """The chat's sealed state, or None if there is none or it has expired."""
        hour = _current_hour(now or _utc_now())
        return await self._transactions.read(
            lambda connection: connection.scalar(_STATE, {"chat": chat_key, "hour": hour})
        )

    async def is_processed(self, update_key: bytes) -> bool:
        return await self._transactions.read(lambda connection: _marked(connection, update_key))

    async def snapshot(
        self, chat_key: str, update_keys: Sequence[bytes], *, now: dt.datetime | None = None
    ) -> tuple[set[bytes], bytes | None]:
        """Which of `update_keys` are marked processed, and the chat's sealed state (as `load`).

        What an update reads before it runs, in one statement: the hot path of every update.
        """
        hour = _current_hour(now or _utc_now())
        parameters = {"keys": list(update_keys), "chat": chat_key, "hour": hour}

        def read(connection: Connection) -> tuple[set[bytes], bytes | None]:
            marked: set[bytes] = set()
            sealed: bytes | None = None
            for value, is_mark in connection.execute(_SNAPSHOT, parameters):
                if is_mark:
                    marked.add(bytes(value))
                else:
                    sealed = bytes(value)
            return marked, sealed

        return await self._transactions.read(read)

    async def head(self, chat_key: str) -> tuple[str | None, bytes | None]:
        """The id of the chat's oldest waiting message and its sealed state as stored (expired
        or not), in one query: enough to tell whether what this process last wrote for the
        chat is still what the database holds."""

        def read(connection: Connection) -> tuple[str | None, bytes | None]:
            row = connection.execute(_HEAD, {"chat": chat_key}).one()
            return row[0], None if row[1] is None else bytes(row[1])

        return await self._transactions.read(read)

    async def has_pending(self, chat_key: str) -> bool:
        """Whether anything of the chat's waits in the outbox."""
        found = await self._transactions.read(
            lambda connection: connection.scalar(_ANY_PENDING, {"chat": chat_key})
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
        hour = expiry_hour(expires)

        def write(connection: Connection) -> list[OutboxEntry]:
            if report is not None:
                existing = _report_with_submission_key(connection, report.submission_key)
                if existing is not None:
                    # The reads need not share a snapshot: another worker may have
                    # committed this very update (mark and report) between the two.
                    if update_key is not None and _marked(connection, update_key):
                        raise AlreadyProcessed()
                    raise DuplicateSubmission(existing)
            # The marks first: a mark already stored (this update was committed before, by us
            # or another worker) fails here, and the transaction writes nothing.
            if marks:
                connection.execute(_INSERT_MARK, marks)
            _write_state(connection, chat_key, state, hour)
            entries = _append_outbox(connection, chat_key, outbox, day, bot)
            if report is not None:
                # Once per report, not per update: the ORM builds the report and its items.
                with Session(bind=connection) as session:
                    session.add(report_row(report))
                    session.flush()
            return entries

        try:
            return await self._transactions.write(write)
        except IntegrityError:
            # The update was committed before (its mark exists), or another worker committed
            # the same submission between our check and our commit; say which.
            if update_key is not None and await self.is_processed(update_key):
                raise AlreadyProcessed() from None
            if report is not None:
                existing = await self._transactions.read(
                    lambda connection: _report_with_submission_key(
                        connection, report.submission_key)
                )
                if existing is not None:
                    raise DuplicateSubmission(existing) from None
            raise

    async def pending(self, chat_key: str) -> list[OutboxEntry]:
        """The chat's messages waiting to be sent, in order."""
        rows = await self._transactions.read(
            lambda connection: connection.execute(_PENDING, {"chat": chat_key}).all()
        )
        return [OutboxEntry(entry_id=row.id, chat_key=chat_key, seq=row.seq,
                            sealed=bytes(row.sealed), day=row.day) for row in rows]

    async def chats_with_pending(
        self, limit: int = 100, *, after: str = "", bot: str | None = None
    ) -> list[str]:
        """Up to `limit` chats of one bot (None: the deployment's own) with something in the
        outbox, in pseudonym order (not age).

        Pass the last chat key of a page as `after` for the next one, so chats whose messages
        cannot be delivered yet do not hide the others.
        """
        query = _PENDING_CHATS if bot is None else _PENDING_CHATS_OF_BOT
        found = await self._transactions.read(lambda connection: connection.scalars(
            query, {"after": after, "bot": bot, "limit": limit}).all())
        return list(found)

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
        hour = None if expires is None else expiry_hour(expires)

        def write(connection: Connection) -> None:
            connection.execute(_DELETE_SENT, {"id": entry_id, "chat": chat_key})
            if state is not UNCHANGED:
                _write_state(connection, chat_key, state, hour)

        await self._transactions.write(write)

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


# Every statement of the hot path, built once: SQLAlchemy then finds its compiled form in its
# cache by a key it also computes once, instead of building and keying a statement per call.
_SNAPSHOT: CompoundSelect[bytes, int] = union_all(
    select(ProcessedUpdateRow.update_key, literal_column("1")).where(
        ProcessedUpdateRow.update_key.in_(bindparam("keys", expanding=True))
    ),
    select(ChatStateRow.sealed, literal_column("0")).where(
        ChatStateRow.chat_key == bindparam("chat"), ChatStateRow.expires_hour > bindparam("hour")
    ),
)
_STATE = select(ChatStateRow.sealed).where(
    ChatStateRow.chat_key == bindparam("chat"), ChatStateRow.expires_hour > bindparam("hour")
)
_MARK = select(ProcessedUpdateRow.day).where(ProcessedUpdateRow.update_key == bindparam("key"))
_REPORT_BY_SUBMISSION = select(ReportRow.id).where(ReportRow.submission_key == bindparam("key"))
_HEAD = select(
    select(OutboxRow.id).where(OutboxRow.chat_key == bindparam("chat"))
    .order_by(OutboxRow.seq).limit(1).scalar_subquery(),
    select(ChatStateRow.sealed).where(ChatStateRow.chat_key == bindparam("chat"))
    .scalar_subquery(),
)
_ANY_PENDING = select(OutboxRow.id).where(OutboxRow.chat_key == bindparam("chat")).limit(1)
_PENDING = (
    select(OutboxRow.id, OutboxRow.seq, OutboxRow.sealed, OutboxRow.day)
    .where(OutboxRow.chat_key == bindparam("chat")).order_by(OutboxRow.seq)
)
_PENDING_CHATS = (
    select(OutboxRow.chat_key)
    .where(OutboxRow.chat_key > bindparam("after"), OutboxRow.bot.is_(None))
    .distinct().order_by(OutboxRow.chat_key).limit(bindparam("limit"))
)
_PENDING_CHATS_OF_BOT = (
    select(OutboxRow.chat_key)
    .where(OutboxRow.chat_key > bindparam("after"), OutboxRow.bot == bindparam("bot"))
    .distinct().order_by(OutboxRow.chat_key).limit(bindparam("limit"))
)
_LAST_SEQ = select(func.max(OutboxRow.seq)).where(OutboxRow.chat_key == bindparam("chat"))
_INSERT_MARK = insert(ProcessedUpdateRow)
_INSERT_OUTBOX = insert(OutboxRow)
_DELETE_STATE = delete(ChatStateRow).where(ChatStateRow.chat_key == bindparam("chat"))
_DELETE_SENT = delete(OutboxRow).where(
    OutboxRow.id == bindparam("id"), OutboxRow.chat_key == bindparam("chat")
)
# The chat state's upsert, per dialect, built on first use: each dialect's module is loaded by
# its engine already; importing it here, not at the top, keeps PostgreSQL's (about 2 MB) out
# of a process that runs on SQLite.
_UPSERTS: dict[str, Executable] = {}


def _upsert_state(dialect: str) -> Executable:
    upsert = _UPSERTS.get(dialect)
    if upsert is None:
        values: dict[str, Any] = {"chat_key": bindparam("chat"), "sealed": bindparam("sealed"),
                  "expires_hour": bindparam("hour")}
        if dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            pg = postgresql.insert(ChatStateRow).values(values)
            upsert = pg.on_conflict_do_update(index_elements=["chat_key"], set_={
                "sealed": pg.excluded.sealed, "expires_hour": pg.excluded.expires_hour})
        else:
            from sqlalchemy.dialects import sqlite

            lite = sqlite.insert(ChatStateRow).values(values)
            upsert = lite.on_conflict_do_update(index_elements=["chat_key"], set_={
                "sealed": lite.excluded.sealed, "expires_hour": lite.excluded.expires_hour})
        _UPSERTS[dialect] = upsert
    return upsert


def _marked(connection: Connection, update_key: bytes) -> bool:
    return connection.scalar(_MARK, {"key": update_key}) is not None


def _report_with_submission_key(connection: Connection, key: bytes) -> str | None:
    found: str | None = connection.scalar(_REPORT_BY_SUBMISSION, {"key": key})
    return found


def _write_state(
    connection: Connection, chat_key: str, state: bytes | None, expires_hour: int | None
) -> None:
    if state is None:
        connection.execute(_DELETE_STATE, {"chat": chat_key})
        return
    if expires_hour is None:
        raise ValueError("a new chat state needs its expiry")
    connection.execute(_upsert_state(connection.dialect.name),
                       {"chat": chat_key, "sealed": state, "hour": expires_hour})


def _append_outbox(
    connection: Connection, chat_key: str, outbox: Sequence[bytes], day: dt.date,
    bot: str | None = None,
) -> list[OutboxEntry]:
    if not outbox:
        return []
    last = connection.scalar(_LAST_SEQ, {"chat": chat_key})
    first = 0 if last is None else last + 1
    entries = [
        OutboxEntry(
            entry_id=secrets.token_hex(16), chat_key=chat_key, seq=first + offset,
            sealed=sealed, day=day,
        )
        for offset, sealed in enumerate(outbox)
    ]
    connection.execute(_INSERT_OUTBOX, [
        {"id": e.entry_id, "chat_key": chat_key, "seq": e.seq, "sealed": e.sealed, "day": day,
         "bot": bot}
        for e in entries
    ])
    return entries


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount
