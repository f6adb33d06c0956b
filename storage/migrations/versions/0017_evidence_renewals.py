"""Renewed timestamps: `evidence_renewals`, one chain per channel (the RFC 4998 idea).

An RFC 3161 token proves its time only while its authority's certificate is valid (and its
algorithms strong). A renewal is a Merkle tree over each anchored tree's root and tokens and
over the previous renewal's root and token, timestamped again before the old certificates
expire. Its own table: a second tree per channel and day would clash with evidence_trees'
primary key (docs/evidence-bundle.md, "Renewal").

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_renewals",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("leaves", sa.LargeBinary, nullable=False),
        sa.Column("tsa", sa.String(255), nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("ca_pem", sa.LargeBinary, nullable=False),
        sa.Column("gen_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("evidence_renewals")
