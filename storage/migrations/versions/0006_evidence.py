"""Trusted time: daily Merkle trees over custody manifests and audit entries, and their tokens.

evidence_days holds one row per anchored day (root, leaf count, timestamping queue state);
evidence_leaves the leaf hashes of each day's tree (keyed by hash, WITHOUT ROWID on SQLite, so
no arrival order); evidence_tokens the RFC 3161 responses per day and authority. The primary
key on the day is what lets only one of several workers build a day's tree.

Revision ID: 0006
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
# The lead rechains this after the highest revision on main when merging.
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_days",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("leaf_count", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failure", sa.String(32), nullable=True),
    )
    op.create_table(
        "evidence_leaves",
        sa.Column("leaf_hash", sa.String(64), primary_key=True),
        sa.Column(
            "day", sa.Date, sa.ForeignKey("evidence_days.day", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("report_id", sa.String(32), nullable=True),
        sa.Column("audit_seq", sa.Integer, nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_evidence_leaves_day", "evidence_leaves", ["day", "leaf_hash"])
    op.create_index("ix_evidence_leaves_report_id", "evidence_leaves", ["report_id"])
    op.create_index("ix_evidence_leaves_audit_seq", "evidence_leaves", ["audit_seq"])
    op.create_table(
        "evidence_tokens",
        sa.Column(
            "day", sa.Date, sa.ForeignKey("evidence_days.day", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tsa", sa.String(255), primary_key=True),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("ca_pem", sa.LargeBinary, nullable=False),
        sa.Column("gen_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("evidence_tokens")
    op.drop_index("ix_evidence_leaves_audit_seq", table_name="evidence_leaves")
    op.drop_index("ix_evidence_leaves_report_id", table_name="evidence_leaves")
    op.drop_index("ix_evidence_leaves_day", table_name="evidence_leaves")
    op.drop_table("evidence_leaves")
    op.drop_table("evidence_days")
