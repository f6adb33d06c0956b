"""Initial schema: reports, sealed items, their recipients, reviewer recipients.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("received_day", sa.Date, nullable=False, index=True),
        sa.Column("status", sa.String(32), nullable=False, index=True),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("expires_on", sa.Date, nullable=True),
        sa.Column("receipt_hash", sa.LargeBinary(64), nullable=False, unique=True),
        sa.Column("submission_key", sa.LargeBinary(64), nullable=False, unique=True),
        sa.Column("manifest", sa.LargeBinary, nullable=False),
        sa.Column("manifest_signature", sa.LargeBinary(64), nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "report_id",
            sa.String(32),
            sa.ForeignKey("reports.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("header", sa.LargeBinary, nullable=False),
        sa.Column("payload_size", sa.BigInteger, nullable=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.UniqueConstraint("report_id", "seq"),
    )
    op.create_table(
        "item_recipients",
        sa.Column(
            "item_id",
            sa.String(32),
            sa.ForeignKey("items.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key_id", sa.String(16), primary_key=True),
    )
    op.create_table(
        "recipients",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("recipient", sa.String(128), nullable=False, unique=True),
        sa.Column("key_id", sa.String(16), nullable=False, index=True),
        sa.Column("added_on", sa.Date, nullable=False),
        sa.Column("removed_on", sa.Date, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("recipients")
    op.drop_table("item_recipients")
    op.drop_table("items")
    op.drop_table("reports")
