"""SQLAlchemy models: exactly the clear-text columns the metadata policy allows.

Every column here is on the allowlist of docs/storage-format.md. Adding a column means adding
it there first, with the reason it is safe in clear.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class ItemRole(enum.StrEnum):
    """What a sealed item is, structurally; never what it contains."""

    ANSWERS = "answers"
    ATTACHMENT = "attachment"


class ReportRow(Base):
    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    received_day: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(32), default="new", index=True)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    # Slow keyed hash of the witness's receipt code; the code itself is never stored.
    receipt_hash: Mapped[bytes] = mapped_column(LargeBinary(64), unique=True)
    # Keyed hash of the Telegram update that submitted the report, so a redelivered update is
    # recognised without keeping the update id itself.
    submission_key: Mapped[bytes] = mapped_column(LargeBinary(64), unique=True)
    # Canonical JSON of item sizes and payload hashes, and its Ed25519 custody signature.
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    manifest_signature: Mapped[bytes] = mapped_column(LargeBinary(64))

    items: Mapped[list[ItemRow]] = relationship(
        back_populates="report", order_by="ItemRow.seq", cascade="all, delete-orphan"
    )


class ItemRow(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("report_id", "seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    header: Mapped[bytes] = mapped_column(LargeBinary)
    payload_size: Mapped[int] = mapped_column(BigInteger)
    payload_sha256: Mapped[str] = mapped_column(String(64))

    report: Mapped[ReportRow] = relationship(back_populates="items")
    recipients: Mapped[list[ItemRecipientRow]] = relationship(
        cascade="all, delete-orphan", order_by="ItemRecipientRow.key_id"
    )


class ItemRecipientRow(Base):
    """Which recipient key ids an item's current header is wrapped to (for rotation)."""

    __tablename__ = "item_recipients"

    item_id: Mapped[str] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)


class RecipientRow(Base):
    """A reviewer's public age recipient, registered by an administrator."""

    __tablename__ = "recipients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    recipient: Mapped[str] = mapped_column(String(128), unique=True)
    key_id: Mapped[str] = mapped_column(String(16), index=True)
    added_on: Mapped[dt.date] = mapped_column(Date)
    removed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
