"""Idempotency marks for /status additions.

A witness's addition was appended in its own transaction, before the update that carried it was
marked as processed; a crash between the two made the redelivered update append it again. The
mark, a keyed hash of the update, is now written in the addition's own transaction.

Revision ID: 0010
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
# The lead rechains this after the other branches' revisions when merging.
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "addition_marks",
        sa.Column("submission_key", sa.LargeBinary(32), primary_key=True),
        sa.Column("day", sa.Date, nullable=False, index=True),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("addition_marks")
