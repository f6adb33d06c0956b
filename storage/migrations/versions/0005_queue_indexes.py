"""Queue indexes: every filter of the reviewers' queue ends in the queue's order.

The queue is listed in (received_day, id) order with keyset pages (storage/queue.py). An index
per filter that ends in that order lets each page be read straight off the index, so the last
page of a million reports costs what the first does. The single-column indexes on
received_day and status are covered by the new ones and dropped. Label rows get a copy of their
report's received_day (fixed at arrival), so a label's reports too are read in queue order.

Revision ID: 0005
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
# The lead rechains this after the "0003" and "0004" revisions of other branches when merging.
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_QUEUE_INDEXES = {
    "ix_reports_queue": ["received_day", "id"],
    "ix_reports_status_queue": ["status", "received_day", "id"],
    "ix_reports_priority_queue": ["priority", "received_day", "id"],
    "ix_reports_assignee_queue": ["assignee", "received_day", "id"],
    # Not the queue's, but the other walk over all reports: retention's keyset pages.
    "ix_reports_expiry": ["expires_on", "id"],
}


def upgrade() -> None:
    for name, columns in _QUEUE_INDEXES.items():
        op.create_index(name, "reports", columns)
    # A label's reports in queue order: the label rows carry their report's (fixed) day.
    with op.batch_alter_table("report_labels") as batch:
        batch.add_column(sa.Column("received_day", sa.Date, nullable=True))
    op.execute(
        "UPDATE report_labels SET received_day = "
        "(SELECT received_day FROM reports WHERE reports.id = report_labels.report_id)"
    )
    with op.batch_alter_table("report_labels") as batch:
        batch.alter_column("received_day", existing_type=sa.Date, nullable=False)
    op.create_index(
        "ix_report_labels_queue", "report_labels", ["label", "received_day", "report_id"]
    )
    op.drop_index("ix_reports_received_day", table_name="reports")
    op.drop_index("ix_reports_status", table_name="reports")


def downgrade() -> None:
    op.create_index("ix_reports_status", "reports", ["status"])
    op.create_index("ix_reports_received_day", "reports", ["received_day"])
    op.drop_index("ix_report_labels_queue", table_name="report_labels")
    with op.batch_alter_table("report_labels") as batch:
        batch.drop_column("received_day")
    for name in reversed(list(_QUEUE_INDEXES)):
        op.drop_index(name, table_name="reports")
