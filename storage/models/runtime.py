"""What the bot keeps between updates: sealed chat states, the outbox, idempotency marks,
parked updates, the shared send budget, and payloads stored in the database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base

# --- Conversations between updates (storage/conversations.py) ------------------------------
# Sealed with the draft key, which is not in the database; keyed by keyed pseudonyms; no exact
# times. WITHOUT ROWID on SQLite, so rows are stored in key order, never in arrival order.


class ChatStateRow(Base):
    """One chat's sealed state (draft, /status session, message trail)."""

    __tablename__ = "chat_states"
    __table_args__ = ({"sqlite_with_rowid": False},)

    chat_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # Hours since 1970-01-01T00:00Z, rounded up: the row is dead from this hour on.
    expires_hour: Mapped[int] = mapped_column(BigInteger, index=True)


class OutboxRow(Base):
    """A sealed message waiting to be sent to a chat, in `seq` order per chat."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("chat_key", "seq"), {"sqlite_with_rowid": False})

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    chat_key: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    # Which bot sends it: an opaque tag of the bot, None for the deployment's own bot.
    bot: Mapped[str | None] = mapped_column(String(16), nullable=True)


class ProcessedUpdateRow(Base):
    """An update's idempotency mark: a keyed hash of bot id and update id, and the day."""

    __tablename__ = "processed_updates"
    __table_args__ = ({"sqlite_with_rowid": False},)

    update_key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)


class AdditionMarkRow(Base):
    """A /status addition's idempotency mark: the keyed hash of the update that sent it.

    Written in the transaction that appends the addition, so an update redelivered after a crash
    finds its addition already stored instead of storing it twice. Forgotten after two days, like
    reports' submission keys.
    """

    __tablename__ = "addition_marks"
    __table_args__ = ({"sqlite_with_rowid": False},)

    submission_key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)


class ParkedUpdateRow(Base):
    """An update taken over from Telegram while it was still being processed (polling only).

    Keyed by the update's idempotency mark, sealed with the draft key; deleted once processed.
    """

    __tablename__ = "parked_updates"
    __table_args__ = ({"sqlite_with_rowid": False},)

    update_key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    # Which bot's update it is: as OutboxRow.bot.
    bot: Mapped[str | None] = mapped_column(String(16), nullable=True)


# --- The bot's send budget, shared by webhook workers (storage/send_budget.py) ---------------


class SendBudgetRow(Base):
    """One bot's grid of send slots: its next free slot and a 429's pause, on the database's
    clock (seconds since 1970). About the bot, never a chat: no witness's time is in it."""

    __tablename__ = "send_budgets"

    # SHA-256 (hex) of the bot's id, so that several bots can each have their own budget.
    bot_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_slot: Mapped[float] = mapped_column(Float)
    paused_until: Mapped[float] = mapped_column(Float)


# --- Payloads in the database (storage/payload_table.py), for several workers -----------------


class PayloadRow(Base):
    """A committed payload: its blob name and the upload whose chunks hold it."""

    __tablename__ = "payloads"
    __table_args__ = ({"sqlite_with_rowid": False},)

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    upload_id: Mapped[str] = mapped_column(String(32), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    chunks: Mapped[int] = mapped_column(Integer)


class PayloadChunkRow(Base):
    """One chunk of a payload's ciphertext, under the random id of its upload."""

    __tablename__ = "payload_chunks"
    __table_args__ = ({"sqlite_with_rowid": False},)

    upload_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


