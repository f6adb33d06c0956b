"""The bot's send budget, shared by its webhook workers: `send_budgets`.

Telegram lets one bot send about 30 messages a second, however many processes send for it. On
PostgreSQL every worker takes its next send slot from the bot's row here, in one statement
(storage/send_budget.py); SQLite's single process keeps the same grid in memory and never
writes this table.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_budgets",
        sa.Column("bot_key", sa.String(64), primary_key=True),
        sa.Column("next_slot", sa.Float(), nullable=False),
        sa.Column("paused_until", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("send_budgets")
