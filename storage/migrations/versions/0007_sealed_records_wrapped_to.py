"""Notes and messages for the witness follow key changes: whom each was last re-wrapped to.

`intake keys rewrap` re-wraps reviewer notes and messages for the witness as it does report
items. An age header does not say whom it is wrapped to, so each row records the sorted key ids
of the recipients the last re-wrap gave it (NULL: written since, or never re-wrapped), and a
later run skips rows already wrapped to exactly the current recipients.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
# The lead rechains this after the revisions of other branches when merging.
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("notes", "witness_messages")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("wrapped_to", sa.Text, nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("wrapped_to")
