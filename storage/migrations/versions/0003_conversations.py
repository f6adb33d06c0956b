"""Conversations between updates: sealed chat states, the sealed outbox, idempotency marks;
and payloads in the database, in chunks, for several workers on PostgreSQL.

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

    op.create_table(
        "payloads",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("upload_id", sa.String(32), nullable=False, unique=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "payload_chunks",
        sa.Column("upload_id", sa.String(32), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        # Ciphertext does not compress: store chunks out of line without trying.
        op.execute("ALTER TABLE payload_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("payload_chunks")
    op.drop_table("payloads")
    op.drop_table("processed_updates")
    op.drop_table("outbox")
    op.drop_table("chat_states")
