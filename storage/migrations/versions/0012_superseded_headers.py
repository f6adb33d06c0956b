"""Superseded item headers: every header an item had before it was replaced is kept.

An item's header is the only wrapped copy of its file key. A well-formed but wrong header sent to
PUT .../items/N/header made the item unreadable for everyone, the recovery key included, and the
old header was gone. Each replacement now keeps the header it replaces (`superseded_headers`),
and an administrator can put it back (docs/key-management.md). Existing items have no history.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "superseded_headers",
        sa.Column(
            "report_id", sa.String(32), sa.ForeignKey("reports.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("item_id", sa.String(32), nullable=False),
        sa.Column("header", sa.LargeBinary, nullable=False),
        sa.Column("key_ids", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("superseded_headers")
