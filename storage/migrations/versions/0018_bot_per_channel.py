"""A bot per channel: a channel may name its own bot's token file (and webhook secret file);
outbox rows and parked updates say which bot they are for.

`channels.bot_token_file` and `channels.webhook_secret_file` are paths on the server, never
the secrets themselves (docs/channels.md, "A bot of its own"). `outbox.bot` and
`parked_updates.bot` are an opaque tag of the bot (a hash of its id), NULL for the
deployment's own bot, so rows written before this migration, or by a worker not yet upgraded,
stay that bot's; each bot's relay and poller read only their own (docs/storage-format.md).

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("channels", sa.Column("bot_token_file", sa.String(512), nullable=True))
    op.add_column("channels", sa.Column("webhook_secret_file", sa.String(512), nullable=True))
    op.add_column("outbox", sa.Column("bot", sa.String(16), nullable=True))
    op.add_column("parked_updates", sa.Column("bot", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("parked_updates") as batch:
        batch.drop_column("bot")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("bot")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("webhook_secret_file")
        batch.drop_column("bot_token_file")
