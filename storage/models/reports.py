"""Reports, their items and recipients, reviewers' notes and labels, credentials, the audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import (
    DEFAULT_CHANNEL,
    WITHOUT_ROWID,
    Base,
    RecipientKind,
)


class ChannelRow(Base):
    """A channel (a partner organisation's intake): its own questionnaire, languages, reviewers,
    recovery key, retention and notification chat. Operator configuration, no witness data."""

    __tablename__ = "channels"

    slug: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    # A questionnaire file (TOML) on the server; None: the deployment's INTAKE_QUESTIONNAIRE.
    questionnaire: Mapped[str | None] = mapped_column(String(512), nullable=True)
    # Languages offered, comma-separated codes; None: every language the questionnaire has.
    languages: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # "closed=90,rejected=30"; None: the deployment's INTAKE_RETENTION_DAYS.
    retention_days: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # The reviewers' notification chat; None: the deployment's INTAKE_REVIEWERS_CHAT_ID.
    reviewers_chat_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Whether the channel is listed in the first question (where the deployment offers one).
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_on: Mapped[dt.date] = mapped_column(Date)
    # The channel's own bot: a file on the server holding its token, and optionally one holding
    # its webhook secret (paths only, never the secrets); None: the deployment's bot serves it.
    bot_token_file: Mapped[str | None] = mapped_column(String(512), nullable=True)
    webhook_secret_file: Mapped[str | None] = mapped_column(String(512), nullable=True)


class ReportRow(Base):
    __tablename__ = "reports"
    # The queue's order is (received_day, id); each filter has an index ending in that order,
    # so a keyset page costs the same at any queue size (storage/queue.py, migration 0005).
    __table_args__ = (
        Index("ix_reports_queue", "received_day", "id"),
        Index("ix_reports_status_queue", "status", "received_day", "id"),
        Index("ix_reports_priority_queue", "priority", "received_day", "id"),
        Index("ix_reports_assignee_queue", "assignee", "received_day", "id"),
        # Retention walks expired reports in (expires_on, id) keyset pages.
        Index("ix_reports_expiry", "expires_on", "id"),
        # A channel's reports in queue order (reviewers scoped to one channel, migration 0008).
        Index("ix_reports_channel_queue", "channel", "received_day", "id"),
        WITHOUT_ROWID,
    )
    # The channel's server default is not read back after an insert (nothing needs it then).
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012 (SQLAlchemy reads it as is)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The channel the report came through: the one clear fact needed to route it to that
    # channel's reviewers (docs/storage-format.md, docs/threat-model.md).
    # The database fills in the default, so a row written without it (as before channels) is
    # the default channel's. Deferred: read only by the queries that route or scope by it.
    channel: Mapped[str] = mapped_column(
        String(32), server_default=DEFAULT_CHANNEL, deferred=True
    )
    received_day: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(32), default="new")
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
    # An age public key derived from the receipt code: reviewers seal messages for the witness
    # to it, and only someone holding the code can derive the private half.
    witness_recipient: Mapped[str | None] = mapped_column(String(128), nullable=True)

    items: Mapped[list[ItemRow]] = relationship(
        back_populates="report", order_by="ItemRow.seq", cascade="all, delete-orphan"
    )


class ItemRow(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("report_id", "seq"), WITHOUT_ROWID)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    header: Mapped[bytes] = mapped_column(LargeBinary)
    payload_size: Mapped[int] = mapped_column(BigInteger)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    parent_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)

    report: Mapped[ReportRow] = relationship(back_populates="items")
    recipients: Mapped[list[ItemRecipientRow]] = relationship(
        cascade="all, delete-orphan", order_by="ItemRecipientRow.key_id"
    )


class ItemRecipientRow(Base):
    """Which recipient key ids an item's current header is wrapped to (for rotation)."""

    __tablename__ = "item_recipients"
    __table_args__ = WITHOUT_ROWID

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
    kind: Mapped[str] = mapped_column(String(16), default=RecipientKind.REVIEWER.value)
    # Reports of this channel only are sealed to this key.
    channel: Mapped[str] = mapped_column(String(32), default=DEFAULT_CHANNEL, index=True)
    added_on: Mapped[dt.date] = mapped_column(Date)
    removed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class LabelRow(Base):
    """A label a reviewer put on a report; the organisation chooses to keep labels in clear."""

    __tablename__ = "report_labels"
    # The primary key serves "labels of this report"; this one serves "reports with this label"
    # in the queue's order, which is why the report's day is copied here.
    __table_args__ = (
        Index("ix_report_labels_queue", "label", "received_day", "report_id"),
        WITHOUT_ROWID,
    )

    report_id: Mapped[str] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(48), primary_key=True)
    # The report's received_day (never changes), so a label's reports page in queue order.
    received_day: Mapped[dt.date] = mapped_column(Date)


class NoteRow(Base):
    """A reviewer's note: an age file sealed to all reviewers; only the author name is clear."""

    __tablename__ = "notes"
    __table_args__ = WITHOUT_ROWID

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    created_on: Mapped[dt.date] = mapped_column(Date)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # Migration 0007: the sorted recipient key ids `intake keys rewrap` last wrapped it to;
    # None until then (an age header does not say whom it is wrapped to).
    wrapped_to: Mapped[str | None] = mapped_column(Text, nullable=True)


class WitnessMessageRow(Base):
    """A reviewers' question for the witness, sealed to the witness recipient (which only the
    receipt code opens) and to the reviewers active when it was asked."""

    __tablename__ = "witness_messages"
    __table_args__ = WITHOUT_ROWID

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    created_on: Mapped[dt.date] = mapped_column(Date)
    # An age file sealed to reports.witness_recipient, whose private key only the receipt code
    # (with the server key) derives, and to the active recipients, so reviewers read it back.
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # Migration 0007: as NoteRow.wrapped_to (the witness stanza is kept and not listed).
    wrapped_to: Mapped[str | None] = mapped_column(Text, nullable=True)


class CredentialRow(Base):
    """A reviewer API credential: only a hash of the random token is kept."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    # The one channel whose reports this credential reaches; None: every channel.
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_on: Mapped[dt.date] = mapped_column(Date)
    revoked_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class AuditRow(Base):
    """One entry of the append-only, hash-chained, signed audit trail."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Canonical JSON of {seq, at, actor, action, report_id, details, prev}; hashed and signed.
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class AuditReportRow(Base):
    """Which reports an audit entry concerns, written with the entry (migration 0011): a
    report's chain of custody is then read by its key, not by decoding the whole trail."""

    __tablename__ = "audit_reports"
    __table_args__ = WITHOUT_ROWID

    # SHA-256 of the report id: a batch entry names its reports only so (review/audit_entries.py).
    report_ref: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    # No foreign key: the trail is append-only, and a row whose entry is gone joins nothing.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


