"""Trusted time and custody: daily Merkle trees, their tokens and renewals, superseded
headers, each report's chain of custody."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import WITHOUT_ROWID, Base

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
