"""Real sealed reports written straight into a Storage, as the bot's submitter writes them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import crypto
from bot.sealing import ItemSealer
from crypto.custody import ManifestEntry, canonical_manifest, sign_manifest
from storage import ItemRole, NewItem, NewReport, Storage

DAY = dt.date(2026, 11, 24)


async def sealed_report(
    storage: Storage,
    custody_key: bytes,
    recipients: Sequence[crypto.X25519Recipient],
    *,
    attachments: Sequence[bytes] = (),
    working_copies: bool = False,
    day: dt.date = DAY,
    witness: crypto.X25519Recipient | None = None,
    answer: str = "what happened",
    report_id: str | None = None,
    channel: str = "default",
    attachment_facts: Sequence[Mapping[str, Any]] = (),
    additions: Sequence[Mapping[str, Any]] = (),
) -> str:
    """Seal answers and attachments (and optional working copies) and store them; the id."""
    report_id = report_id or secrets.token_hex(16)
    items: list[NewItem] = []
    facts = []
    seq = 1
    sealer = ItemSealer(
        storage.blobs, list(recipients), tuple(sorted(crypto.key_id(r) for r in recipients))
    )
    for index, data in enumerate(attachments):
        items.append(await sealer.seal(seq, ItemRole.ATTACHMENT, data))
        facts.append({"item": seq, "kind": "document", "size": len(data),
                      "sha256": hashlib.sha256(data).hexdigest(), "file_name": f"f{seq}.bin",
                      **(attachment_facts[index] if index < len(attachment_facts) else {})})
        original = seq
        seq += 1
        if working_copies:
            copy = b"stripped:" + data
            items.append(await sealer.seal(seq, ItemRole.WORKING_COPY, copy, original))
            seq += 1
    document = {
        "report_id": report_id,
        "submitted_at": f"{day.isoformat()}T12:00:00+00:00",
        "language": "en",
        "answers": [{"label": "What happened", "type": "text", "text": answer}],
        "attachments": facts,
    }
    answers = json.dumps(document).encode()
    items.insert(0, await sealer.seal(0, ItemRole.ANSWERS, answers))
    for addition in additions:  # what the witness added later, as the bot seals it
        items.append(await sealer.seal(seq, ItemRole.ADDITION, json.dumps(addition).encode()))
        seq += 1
    manifest = canonical_manifest(report_id, day.isoformat(), [
        ManifestEntry(i.seq, i.role.value, i.payload_size, i.payload_sha256) for i in items
    ])
    await storage.reports.add(NewReport(
        report_id=report_id,
        received_day=day,
        receipt_hash=secrets.token_bytes(32),
        submission_key=secrets.token_bytes(32),
        manifest=manifest,
        manifest_signature=sign_manifest(custody_key, manifest),
        items=tuple(items),
        witness_recipient=None if witness is None else str(witness),
        channel=channel,
    ))
    return report_id
