"""SQLAlchemy models: exactly the clear-text columns the metadata policy allows.

Every column here is on the allowlist of docs/storage-format.md. Adding a column means adding
it there first, with the reason it is safe in clear.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


# On SQLite, tables whose rows would otherwise be numbered in order of arrival are kept WITHOUT
# ROWID (migration 0004): their B-trees follow the random ids, which say nothing about time.
WITHOUT_ROWID = {"sqlite_with_rowid": False}


class ItemRole(enum.StrEnum):
    """What a sealed item is, structurally; never what it contains."""

    ANSWERS = "answers"
    ATTACHMENT = "attachment"
    # A metadata-stripped copy of an attachment, for sharing; `parent_seq` names the original.
    WORKING_COPY = "working_copy"
    # Something the witness added later with their receipt code (text or a file).
    ADDITION = "addition"


class RecipientKind(enum.StrEnum):
    REVIEWER = "reviewer"
    # The offline recovery key: every report is sealed to it too; nobody reviews with it.
    RECOVERY = "recovery"


class Role(enum.StrEnum):
    REVIEWER = "reviewer"
    ADMIN = "admin"


# The channel every deployment has (migration 0008 moved the data of before channels into it).
DEFAULT_CHANNEL = "default"


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

    # SHA-256 of the report id: a batch entry names its reports only so (review/audit.py).
    report_ref: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    # No foreign key: the trail is append-only, and a row whose entry is gone joins nothing.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


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


# --- Trusted time (storage/evidence.py, docs/evidence-bundle.md) ------------------------------
# Once a day an RFC 6962 Merkle tree over that day's custody manifests and audit entries is
# built and its root timestamped by RFC 3161 authorities. Only days are stored: no exact times
# of reports; leaves are keyed by their hash, so not even the order within a day is kept.


# The channel of the trees built before trees were per channel (migration 0013): they cover
# every channel. The installation's own tree (audit entries about no one channel's report) is "".
LEGACY_TREE = "*"
INSTALLATION_TREE = ""


class EvidenceDayRow(Base):
    """One channel's tree of one day: its root and size, and its timestamping queue state."""

    __tablename__ = "evidence_trees"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    root: Mapped[str] = mapped_column(String(64))
    leaf_count: Mapped[int] = mapped_column(Integer)
    # Timestamping attempts so far, when the next may start (UTC, anchoring's own schedule:
    # it depends on the day and the retries, never on a report), and the last failure's kind.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_failure: Mapped[str | None] = mapped_column(String(32), nullable=True)


class EvidenceLeafRow(Base):
    """A leaf of a tree: a custody manifest, an item header or an audit entry, by its hash."""

    __tablename__ = "evidence_tree_leaves"
    __table_args__ = (
        ForeignKeyConstraint(["channel", "day"], ["evidence_trees.channel", "evidence_trees.day"],
                             ondelete="CASCADE"),
        Index("ix_evidence_tree_leaves_tree", "channel", "day", "leaf_hash"),
        WITHOUT_ROWID,
    )

    leaf_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    day: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    report_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    audit_seq: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class EvidenceTokenRow(Base):
    """An RFC 3161 TimeStampResp (DER) over one tree's root, from one authority."""

    __tablename__ = "evidence_tree_tokens"
    __table_args__ = (
        ForeignKeyConstraint(["channel", "day"], ["evidence_trees.channel", "evidence_trees.day"],
                             ondelete="CASCADE"),
    )

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    tsa: Mapped[str] = mapped_column(String(255), primary_key=True)
    response: Mapped[bytes] = mapped_column(LargeBinary)
    # The certificates (PEM) the token was verified against when it arrived: shipped in bundles.
    ca_pem: Mapped[bytes] = mapped_column(LargeBinary)
    gen_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class EvidenceRenewalRow(Base):
    """A renewal of one channel's timestamps (migration 0017, the RFC 4998 idea): a Merkle tree
    whose leaves are each anchored tree's root followed by its tokens, and the previous
    renewal's root followed by its token, timestamped again by one authority. A token whose
    authority's certificate has expired since still proves its time when a renewal made before
    that expiry covers it (review/evidence/renewal.py)."""

    __tablename__ = "evidence_renewals"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    root: Mapped[str] = mapped_column(String(64))
    # The tree's leaf hashes, 32 bytes each, in tree order (sorted): proofs are made from them.
    leaves: Mapped[bytes] = mapped_column(LargeBinary)
    tsa: Mapped[str] = mapped_column(String(255))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    ca_pem: Mapped[bytes] = mapped_column(LargeBinary)
    gen_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class SupersededHeaderRow(Base):
    """Every header an item had before it was replaced (migration 0012): a wrong header written
    through the API can be undone, since the header is the only wrapped copy of the file key.
    Shredded with the report (storage/retention.py)."""

    __tablename__ = "superseded_headers"
    __table_args__ = WITHOUT_ROWID

    report_id: Mapped[str] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # 1 for the first header replaced, 2 for the next: the item's own count, no time.
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # The item (payload) it opens: a header opens only the payload it was written for, so a
    # re-encrypted item (a new id) cannot go back to one of these.
    item_id: Mapped[str] = mapped_column(String(32))
    header: Mapped[bytes] = mapped_column(LargeBinary)
    # The recipient key ids it was wrapped to, comma-separated, sorted.
    key_ids: Mapped[str] = mapped_column(Text)


class CustodyEntryRow(Base):
    """One entry of a report's own chain of custody (migration 0014, review/audit.py): the
    signed canonical JSON naming the report, its running count `n` and the SHA-256 of the entry
    before it in the same report's chain. Written in the transaction of its audit_log entry."""

    __tablename__ = "custody_entries"
    __table_args__ = WITHOUT_ROWID

    # SHA-256 of the report id, as in audit_reports; no foreign key: custody outlives reports.
    report_ref: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    # 1, 2, 3... per report: two writers taking the same number collide here, not fork.
    n: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    entry_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    # The audit_log entry written with it: how the daily anchoring finds it (never in a bundle).
    audit_seq: Mapped[int] = mapped_column(Integer, index=True)
