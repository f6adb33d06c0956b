"""Reports to store in storage tests: well-formed rows whose sealed parts are stand-ins
(the repositories never open them)."""

from __future__ import annotations

import datetime as dt
import secrets

from storage import ItemRole, NewItem, NewReport


def new_report(
    day: dt.date,
    *,
    items: int,
    report_id: str | None = None,
    submission_key: bytes | None = None,
    receipt_hash_bytes: int = 32,
    recipient_key_ids: tuple[str, ...] = ("0123456789abcdef",),
    payload_size: int = 100,
    size_grows_by_seq: bool = False,
) -> NewReport:
    """A report received on `day` with `items` items (the answers first, then attachments)."""
    return NewReport(
        report_id=report_id or secrets.token_hex(16),
        received_day=day,
        receipt_hash=secrets.token_bytes(receipt_hash_bytes),
        submission_key=submission_key or secrets.token_bytes(32),
        manifest=b'{"items":[]}',
        manifest_signature=b"\x01" * 64,
        items=tuple(
            NewItem(
                item_id=secrets.token_hex(16),
                seq=seq,
                role=ItemRole.ANSWERS if seq == 0 else ItemRole.ATTACHMENT,
                header=b"age-encryption.org/v1\n" + bytes([seq]) * 40,
                payload_size=payload_size + (seq if size_grows_by_seq else 0),
                payload_sha256="ab" * 32,
                recipient_key_ids=recipient_key_ids,
            )
            for seq in range(items)
        ),
    )
