"""Trusted time per channel: each channel's day has its own Merkle tree and its own tokens.

A single daily tree over every channel put another channel's leaves into a bundle's proof: its
sibling hashes and its tree size counted the other channels' reports. The trees are now keyed by
(channel, day): evidence_trees, evidence_tree_leaves and evidence_tree_tokens replace
evidence_days, evidence_leaves and evidence_tokens (new names, so PostgreSQL's constraint and
index names cannot clash while the rows are copied). Trees built before this migration covered
every channel: they are kept as they were, under the channel "*" (docs/evidence-bundle.md).
Audit entries not about one channel's report go into the installation's own tree, channel "".

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Trees built before this migration covered every channel: they keep the channel "*".


def upgrade() -> None:
    op.create_table(
        "evidence_trees",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("leaf_count", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failure", sa.String(32), nullable=True),
    )
    op.create_table(
        "evidence_tree_leaves",
        sa.Column("leaf_hash", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("report_id", sa.String(32), nullable=True),
        sa.Column("audit_seq", sa.Integer, nullable=True),
        sa.ForeignKeyConstraint(
            ["channel", "day"], ["evidence_trees.channel", "evidence_trees.day"],
            ondelete="CASCADE"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_evidence_tree_leaves_tree", "evidence_tree_leaves",
                    ["channel", "day", "leaf_hash"])
    op.create_index("ix_evidence_tree_leaves_report_id", "evidence_tree_leaves", ["report_id"])
    op.create_index("ix_evidence_tree_leaves_audit_seq", "evidence_tree_leaves", ["audit_seq"])
    op.create_table(
        "evidence_tree_tokens",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("tsa", sa.String(255), primary_key=True),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("ca_pem", sa.LargeBinary, nullable=False),
        sa.Column("gen_time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel", "day"], ["evidence_trees.channel", "evidence_trees.day"],
            ondelete="CASCADE"),
    )
    op.execute(
        "INSERT INTO evidence_trees (channel, day, root, leaf_count, attempts, next_attempt, "
        "last_failure) SELECT '*', day, root, leaf_count, attempts, next_attempt, "
        "last_failure FROM evidence_days")
    op.execute(
        "INSERT INTO evidence_tree_leaves (leaf_hash, channel, day, kind, report_id, audit_seq) "
        "SELECT leaf_hash, '*', day, kind, report_id, audit_seq FROM evidence_leaves")
    op.execute(
        "INSERT INTO evidence_tree_tokens (channel, day, tsa, response, ca_pem, gen_time) "
        "SELECT '*', day, tsa, response, ca_pem, gen_time FROM evidence_tokens")
    op.drop_table("evidence_tokens")
    op.drop_index("ix_evidence_leaves_audit_seq", table_name="evidence_leaves")
    op.drop_index("ix_evidence_leaves_report_id", table_name="evidence_leaves")
    op.drop_index("ix_evidence_leaves_day", table_name="evidence_leaves")
    op.drop_table("evidence_leaves")
    op.drop_table("evidence_days")


def downgrade() -> None:
    """Back to one tree per day: the trees of before (channel "*") return; per-channel trees,
    which the old tables cannot hold, are dropped (the next anchoring run rebuilds none of
    them: their leaves stay unknown and go into the next day's tree)."""
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
        sa.Column("day", sa.Date, sa.ForeignKey("evidence_days.day", ondelete="CASCADE"),
                  nullable=False),
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
        sa.Column("day", sa.Date, sa.ForeignKey("evidence_days.day", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("tsa", sa.String(255), primary_key=True),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("ca_pem", sa.LargeBinary, nullable=False),
        sa.Column("gen_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "INSERT INTO evidence_days SELECT day, root, leaf_count, attempts, next_attempt, "
        "last_failure FROM evidence_trees WHERE channel = '*'")
    op.execute(
        "INSERT INTO evidence_leaves SELECT leaf_hash, day, kind, report_id, audit_seq FROM "
        "evidence_tree_leaves WHERE channel = '*'")
    op.execute(
        "INSERT INTO evidence_tokens SELECT day, tsa, response, ca_pem, gen_time FROM "
        "evidence_tree_tokens WHERE channel = '*'")
    op.drop_table("evidence_tree_tokens")
    for index in ("audit_seq", "report_id", "tree"):
        op.drop_index(f"ix_evidence_tree_leaves_{index}", table_name="evidence_tree_leaves")
    op.drop_table("evidence_tree_leaves")
    op.drop_table("evidence_trees")
