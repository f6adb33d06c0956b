"""Each report's own chain of custody: `custody_entries(report_ref, n)`.

The audit trail is one hash chain over every action; a report's custody was the subsequence of
entries about it, so a bundle showed gaps (a dropped entry could not be told from one of
another report) and global sequence numbers (how busy every other channel was). From now on
every entry about reports also writes, in the same transaction, one entry per report in that
report's own chain (review/audit.py): the report, a running count n and the SHA-256 of the
report's previous entry. Nothing is backfilled: entries written before stay in audit_log, and a
report's first chain entry lists their SHA-256 (`legacy`), so an old report's bundle carries
them and a verifier notices one missing (docs/custody-chain.md).

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "custody_entries",
        sa.Column("report_ref", sa.LargeBinary(32), primary_key=True),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("audit_seq", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_custody_entries_audit_seq", "custody_entries", ["audit_seq"])


def downgrade() -> None:
    op.drop_table("custody_entries")
