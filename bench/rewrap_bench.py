"""How much cheaper is re-wrapping headers than decrypting and re-encrypting every item?

Run: .venv/bin/python bench/rewrap_bench.py [--items 2000] [--attachment-kib 200]
(not part of the test suite)

The store holds N items as the bot writes them: reports of one answers document (2 KiB) and one
attachment, sealed to reviewers A and B and the recovery key. B leaves and C joins, then the
same store (copied) is brought to the new recipient set two ways, in this process:

- re-wrap (`intake keys rewrap`): new header stanzas and MAC per item, payload untouched;
- decrypt and re-encrypt (`intake keys reencrypt`): a fresh file key and a new payload per
  item, written and synced, checked, the custody manifest re-signed, the old payload deleted.

Both are measured end to end on a real SQLite store, and the per-item cryptography alone (no
database, payloads read from the blob files) is measured as well. Ratios are from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import crypto
from crypto.custody import ManifestEntry, canonical_manifest, sign_manifest
from review.audit import AuditTrail
from review.keys import TargetSet, rewrap_header, rewrap_store
from review.recipients import add_recovery, add_reviewer, remove_reviewer
from review.reencrypt import reencrypt_store
from storage import ItemRole, NewItem, NewReport, Storage, StoredItem, default_sqlite_url
from storage.server_keys import load_or_create_server_keys

ANSWERS_BYTES = 2 * 1024


@dataclass
class Keys:
    a: crypto.X25519Identity
    b: crypto.X25519Identity
    c: crypto.X25519Identity
    recovery: crypto.X25519Identity


def _seal(storage: Storage, seq: int, role: ItemRole, data: bytes,
          recipients: list[crypto.X25519Recipient]) -> NewItem:
    item_id = secrets.token_hex(16)
    with storage.blobs.create(item_id) as blob:
        header = crypto.seal(io.BytesIO(data), blob, recipients)
    return NewItem(item_id, seq, role, header, blob.size, blob.sha256_hex,
                   tuple(sorted(crypto.key_id(r) for r in recipients)))


async def seed(data_dir: Path, keys: Keys, reports: int, attachment: bytes) -> None:
    """`reports` reports of two items each, as the bot's submitter stores them."""
    storage = await Storage.open(default_sqlite_url(data_dir), data_dir / "blobs")
    custody = load_or_create_server_keys(data_dir).custody_key
    audit = AuditTrail(storage.audit, custody)
    try:
        await add_reviewer(storage, "a", str(keys.a.recipient), audit=audit)
        await add_reviewer(storage, "b", str(keys.b.recipient), audit=audit)
        await add_recovery(storage, str(keys.recovery.recipient), audit=audit)
        recipients = [keys.a.recipient, keys.b.recipient, keys.recovery.recipient]
        answers = os.urandom(ANSWERS_BYTES)
        for _ in range(reports):
            report_id = secrets.token_hex(16)
            items = (
                _seal(storage, 0, ItemRole.ANSWERS, answers, recipients),
                _seal(storage, 1, ItemRole.ATTACHMENT, attachment, recipients),
            )
            manifest = canonical_manifest(report_id, "2026-11-24", [
                ManifestEntry(i.seq, i.role.value, i.payload_size, i.payload_sha256)
                for i in items
            ])
            await storage.reports.add(NewReport(
                report_id, dt.date(2026, 11, 24), secrets.token_bytes(32),
                secrets.token_bytes(32), manifest, sign_manifest(custody, manifest), items,
            ))
        await remove_reviewer(storage, "b", audit=audit)
        await add_reviewer(storage, "c", str(keys.c.recipient), audit=audit)
    finally:
        await storage.close()


async def crypto_only(data_dir: Path, keys: Keys) -> tuple[float, float, int]:
    """Seconds for re-wrapping every header, and for decrypting and re-encrypting every item
    (payloads read from their blob files, new payloads to memory), without the database."""
    storage = await Storage.open(default_sqlite_url(data_dir), data_dir / "blobs")
    try:
        target = TargetSet.of(await storage.recipients.active())
        items: list[StoredItem] = []
        async for summary in storage.queue.walk():
            report = await storage.reports.get(summary.report_id)
            assert report is not None
            items.extend(report.items)
    finally:
        await storage.close()
    return (*_crypto_timings(storage, items, keys, target), len(items))


def _crypto_timings(
    storage: Storage, items: list[StoredItem], keys: Keys, target: TargetSet
) -> tuple[float, float]:
    start = time.perf_counter()
    for item in items:
        rewrap_header(item.header, [keys.a], target)
    rewrap = time.perf_counter() - start
    start = time.perf_counter()
    for item in items:
        plain = io.BytesIO()
        with storage.blobs.open(item.item_id) as payload:
            crypto.open_sealed(item.header, payload, plain, [keys.a])
        plain.seek(0)
        crypto.seal(plain, io.BytesIO(), list(target.recipients))
    return rewrap, time.perf_counter() - start


async def whole_store(data_dir: Path, keys: Keys, *, reencrypt: bool) -> tuple[float, int]:
    storage = await Storage.open(default_sqlite_url(data_dir), data_dir / "blobs")
    custody = load_or_create_server_keys(data_dir).custody_key
    audit = AuditTrail(storage.audit, custody)
    try:
        start = time.perf_counter()
        if reencrypt:
            result = await reencrypt_store(
                storage, [keys.a], audit=audit, actor="bench", custody_key=custody,
                plan_path=data_dir / "plan.json", key_id=crypto.key_id(keys.b.recipient),
            )
            done = result.reencrypted
        else:
            rewrapped = await rewrap_store(storage, [keys.a], audit=audit, actor="bench")
            done = rewrapped.rewrapped
        return time.perf_counter() - start, done
    finally:
        await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=2000, help="items (two per report)")
    parser.add_argument("--attachment-kib", type=int, default=200,
                        help="size of each report's attachment (the answers are 2 KiB)")
    args = parser.parse_args()
    keys = Keys(*(crypto.generate_identity() for _ in range(4)))
    reports = max(1, args.items // 2)
    attachment = os.urandom(args.attachment_kib * 1024)
    with tempfile.TemporaryDirectory(prefix="rewrap-bench-") as temp:
        base = Path(temp) / "seed"
        print(f"seeding {reports * 2} items ({reports} reports: {ANSWERS_BYTES // 1024} KiB "
              f"answers + {args.attachment_kib} KiB attachment), sealed to A, B and recovery; "
              "then B removed and C added ...", flush=True)
        asyncio.run(seed(base, keys, reports, attachment))
        for name in ("rewrap", "reencrypt"):
            shutil.copytree(base, Path(temp) / name)

        rewrap_s, reseal_s, count = asyncio.run(crypto_only(base, keys))
        store_rewrap_s, rewrapped = asyncio.run(
            whole_store(Path(temp) / "rewrap", keys, reencrypt=False)
        )
        store_reencrypt_s, reencrypted = asyncio.run(
            whole_store(Path(temp) / "reencrypt", keys, reencrypt=True)
        )
    assert rewrapped == count and reencrypted == count, (rewrapped, reencrypted, count)
    per = 1000 / count
    print(f"\n{count} items, 3 recipients each before and after (A, C, recovery)")
    print("cryptography only (no database):")
    print(f"  re-wrap                  {rewrap_s * per:8.3f} ms/item  "
          f"{count / rewrap_s * 60:12,.0f} items/min")
    print(f"  decrypt + re-encrypt     {reseal_s * per:8.3f} ms/item  "
          f"{count / reseal_s * 60:12,.0f} items/min")
    print(f"  ratio                    {reseal_s / rewrap_s:8.1f}x faster to re-wrap")
    print("whole store (SQLite, synced writes, audit trail):")
    print(f"  intake keys rewrap       {store_rewrap_s:8.2f} s        "
          f"{count / store_rewrap_s * 60:12,.0f} re-wraps/min")
    print(f"  intake keys reencrypt    {store_reencrypt_s:8.2f} s        "
          f"{count / store_reencrypt_s * 60:12,.0f} items/min")
    print(f"  ratio                    {store_reencrypt_s / store_rewrap_s:8.1f}x faster "
          "to re-wrap")


if __name__ == "__main__":
    main()
