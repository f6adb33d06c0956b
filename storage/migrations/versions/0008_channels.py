"""Channels: several partner organisations' intakes in one deployment.

A `channels` table (slug, name, questionnaire, languages, retention, notification chat, public
flag); reports, recipients and API credentials gain a `channel` column. Everything stored before
channels moves into the channel `default`, whose unset settings (questionnaire, languages,
retention, notification chat) mean "the deployment's INTAKE_* settings", so an upgraded
deployment behaves exactly as before. Existing credentials stay global (channel NULL).

Revision ID: 0008
Revises: 0007
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
# The lead rechains this after the highest revision on main when merging.
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEFAULT = "default"


def upgrade() -> None:
    channels = op.create_table(
        "channels",
        sa.Column("slug", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("questionnaire", sa.String(512), nullable=True),
        sa.Column("languages", sa.String(64), nullable=True),
        sa.Column("retention_days", sa.String(256), nullable=True),
        sa.Column("reviewers_chat_id", sa.BigInteger, nullable=True),
        sa.Column("public", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_on", sa.Date, nullable=False),
    )
    # The day only (as every date in the store), and the same for every deployment's default.
    op.bulk_insert(channels, [{
        "slug": _DEFAULT, "name": "Default", "public": False,
        "created_on": dt.date(2026, 1, 1),
    }])
    with op.batch_alter_table("reports") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(32), nullable=False, server_default=_DEFAULT)
        )
    op.create_index("ix_reports_channel_queue", "reports", ["channel", "received_day", "id"])
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(32), nullable=False, server_default=_DEFAULT)
        )
    op.create_index("ix_recipients_channel", "recipients", ["channel"])
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("channel", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("channel")
    op.drop_index("ix_recipients_channel", table_name="recipients")
    with op.batch_alter_table("recipients") as batch:
        batch.drop_column("channel")
    op.drop_index("ix_reports_channel_queue", table_name="reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("channel")
    op.drop_table("channels")
