"""Conversations between updates: sealed chat states, the sealed outbox, idempotency marks.

Revision ID: 0003
Revises: 0002

All three tables are WITHOUT ROWID on SQLite, so the file keeps them in key order (random ids
and keyed pseudonyms), not in the order rows arrived. PostgreSQL ignores the option.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_states",
        sa.Column("chat_key", sa.String(64), primary_key=True),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("expires_hour", sa.BigInteger, nullable=False, index=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("chat_key", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("day", sa.Date, nullable=False, index=True),
        sa.UniqueConstraint("chat_key", "seq"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "processed_updates",
        sa.Column("update_key", sa.LargeBinary(32), primary_key=True),
        sa.Column("day", sa.Date, nullable=False, index=True),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("processed_updates")
    op.drop_table("outbox")
    op.drop_table("chat_states")
