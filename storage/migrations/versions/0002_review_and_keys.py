"""Reviewer side: labels, sealed notes, messages for witnesses, API credentials, audit trail,
recovery recipients and working copies / witness additions as items.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _report_fk() -> sa.Column[str]:
    return sa.Column(
        "report_id",
        sa.String(32),
        sa.ForeignKey("reports.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("parent_seq", sa.Integer, nullable=True))
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="reviewer")
        )
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("witness_recipient", sa.String(128), nullable=True))
    op.create_table(
        "report_labels",
        sa.Column(
            "report_id",
            sa.String(32),
            sa.ForeignKey("reports.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("label", sa.String(48), primary_key=True),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.String(32), primary_key=True),
        _report_fk(),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_on", sa.Date, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "witness_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        _report_fk(),
        sa.Column("created_on", sa.Date, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, index=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("created_on", sa.Date, nullable=False),
        sa.Column("revoked_on", sa.Date, nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("credentials")
    op.drop_table("witness_messages")
    op.drop_table("notes")
    op.drop_table("report_labels")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("witness_recipient")
    with op.batch_alter_table("recipients") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("parent_seq")
