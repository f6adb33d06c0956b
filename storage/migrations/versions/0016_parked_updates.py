"""Updates taken over from Telegram while still being processed: `parked_updates`.

With long polling, Telegram hands out updates only after the oldest one the bot has not
confirmed, 100 at a time: one slow update (a 30 s download) held up every chat's updates behind
it. The poller now parks an update that is taking long, sealed with the draft key and keyed by
its idempotency mark, and confirms it; a restart processes what is parked (bot/telegram/
parking.py). WITHOUT ROWID on SQLite, like the other conversation tables: no arrival order.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "parked_updates",
        sa.Column("update_key", sa.LargeBinary(32), primary_key=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("day", sa.Date, nullable=False, index=True),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("parked_updates")
