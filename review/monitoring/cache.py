"""The monitoring cache on the reviewer's disk: one age file sealed to the reviewer's own key.

Decrypting a large queue takes a while, so what was decrypted is kept for the next run, but
never as plaintext: the cache is sealed (age v1) to the recipients of the reviewer's own X25519
identities, and opened with those identities. A cache that does not open (another key, damage,
an older layout) is ignored and rebuilt. It holds decrypted content, so it is as sensitive as
the reports: the reviewer can delete it at any time (`--no-cache` skips it altogether).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import crypto
from review.monitoring.records import Content, Record

# v2: attachments carry the type sniffed from their bytes, and reports their follow-up.
LAYOUT = "incident-intake/monitoring-cache/v2"


class CacheError(Exception):
    """The cache cannot be sealed to this identity (not an X25519 key)."""


def own_recipients(identities: Sequence[crypto.Identity]) -> list[crypto.Recipient]:
    recipients: list[crypto.Recipient] = [
        i.recipient for i in identities if isinstance(i, crypto.X25519Identity)
    ]
    if not recipients:
        raise CacheError(
            "the cache is sealed to your own X25519 key, and this identity has none: "
            "run with --no-cache"
        )
    return recipients


def load_cache(path: Path, identities: Sequence[crypto.Identity]) -> dict[str, Content]:
    """The cached content by report id; empty when there is no cache or it does not open."""
    try:
        sealed = path.read_bytes()
        header, offset = crypto.split_header(sealed)
        data = json.loads(crypto.open_bytes(header, sealed[offset:], list(identities)))
        if data.get("layout") != LAYOUT:
            return {}
        return {rid: Content.from_json(c) for rid, c in data["reports"].items()}
    except (OSError, crypto.DecryptionError, ValueError, KeyError, TypeError):
        return {}


def save_cache(
    path: Path, records: Sequence[Record], identities: Sequence[crypto.Identity]
) -> None:
    """Seal every record's content to the reviewer's own key and replace the cache atomically."""
    recipients = own_recipients(identities)
    plain = json.dumps({
        "layout": LAYOUT,
        "reports": {r.report_id: r.content.to_json() for r in records},
    }, ensure_ascii=False).encode("utf-8")
    header, payload = crypto.seal_bytes(plain, recipients)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".cache-", suffix=".age")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(header + payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
