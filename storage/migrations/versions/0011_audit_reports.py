"""An index of the audit trail by report: `audit_reports(report_ref, seq)`.

A report's chain of custody is the audit entries that concern it: its own (the entry's
report_id) and the batches (`keys.rewrap.batch`, `access.opened.batch`) whose details list one
of its items as [SHA-256 of the report id, item seq]. Finding them meant decoding every entry of
the trail. From now on each entry is written together with one row per report it concerns,
keyed by that SHA-256 (the only name a batch has for a report); this migration writes those
rows for the entries already there, by the same rule as review.audit.concerned_refs (copied
here: migrations import nothing of ours, and must keep meaning what they meant when written).
A malformed entry concerns no report, as before.

Revision ID: 0011
Revises: 0008
"""

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH_ACTIONS = ("keys.rewrap.batch", "access.opened.batch")
_ENTRY_FIELDS = {"seq", "at", "actor", "action", "report_id", "details", "prev"}
_HEX = set("0123456789abcdef")
# Entries decoded at a time: a trail of millions is read in pages, never whole.
_PAGE = 5000


def upgrade() -> None:
    bind = op.get_bind()
    # SQLite commits the CREATE at once and the backfill apart from it: a backfill cut short
    # (a kill, a start-up timeout on a long trail) leaves the table behind at revision 0008.
    # Start again from nothing rather than fail on every later start.
    if sa.inspect(bind).has_table("audit_reports"):
        op.drop_table("audit_reports")
    index = op.create_table(
        "audit_reports",
        sa.Column("report_ref", sa.LargeBinary(32), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )
    after = 0
    while True:
        page = bind.execute(
            sa.text("SELECT seq, entry FROM audit_log WHERE seq > :after ORDER BY seq LIMIT :n"),
            {"after": after, "n": _PAGE},
        ).all()
        if not page:
            break
        rows = [
            {"report_ref": bytes.fromhex(ref), "seq": seq}
            for seq, entry in page for ref in sorted(set(_refs(entry)))
        ]
        if rows:
            bind.execute(index.insert(), rows)
        after = page[-1][0]


def _refs(entry: bytes) -> Iterator[str]:
    """The SHA-256 (hex) of each report the stored entry concerns; none if it is malformed."""
    try:
        fields: Any = json.loads(entry)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can read
        return
    # review.audit.decode_entry accepts exactly these keys; anything else concerns no report.
    if not isinstance(fields, dict) or set(fields) != _ENTRY_FIELDS:
        return
    report_id, action, details = fields["report_id"], fields["action"], fields["details"]
    if isinstance(report_id, str):
        if report_id.isascii():
            yield hashlib.sha256(report_id.encode("ascii")).hexdigest()
        return
    if report_id is not None or action not in _BATCH_ACTIONS or not isinstance(details, dict):
        return
    listed = details.get("items", [])
    if not isinstance(listed, list):
        return
    for pair in listed:
        if isinstance(pair, list) and pair and isinstance(pair[0], str) and _is_ref(pair[0]):
            yield pair[0]


def _is_ref(text: str) -> bool:
    return len(text) == 64 and set(text) <= _HEX


def downgrade() -> None:
    op.drop_table("audit_reports")
