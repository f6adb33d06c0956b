"""Each channel's day has its own Merkle tree: a partner channel's bundle carries no hash, root
or tree size of another channel's reports (byte search of the whole bundle)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

import crypto
from crypto import merkle
from crypto.custody import custody_public_pem
from review.audit import AuditTrail
from review.channels import add_channel
from review.evidence.anchor import Anchorer
from review.evidence.anchors import load_anchors
from review.evidence.tsa import TsaConfig
from review.evidence.verdict import OK, examine
from review.export import export_report
from review.local import LocalBackend
from storage import ChannelRecord, Storage
from tests.review.evidence_support import Clock, at, recent_days
from tests.review.sealed_reports import sealed_report
from tests.review.tsa import LocalTsa, local_tsa, tsa_pki

__all__ = ["local_tsa", "tsa_pki"]  # fixtures


async def test_a_channels_bundle_carries_nothing_of_another_channel(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    day, _ = recent_days()
    custody_key = secrets.token_bytes(32)
    reviewer = crypto.generate_identity()
    await add_channel(storage, ChannelRecord(slug="partner", name="Partner"))
    partner = await sealed_report(storage, custody_key, [reviewer.recipient], day=day,
                                  attachments=[b"partner photo"], channel="partner")
    others = [await sealed_report(storage, custody_key, [reviewer.recipient], day=day,
                                  attachments=[secrets.token_bytes(100)]) for _ in range(3)]
    trail = AuditTrail(storage.audit, custody_key, clock=lambda: at(day, 15))
    for report_id in others:
        await trail.record("alice", "status", report_id, {"status": "in_review"})
    await trail.record("alice", "status", partner, {"status": "in_review"})
    anchorer = Anchorer(storage.evidence, [TsaConfig(local_tsa.url,
                                                     local_tsa.pki.ca_cert.read_bytes())],
                        clock=Clock(at(day + dt.timedelta(days=2), 2)))
    run = await anchorer.run_once()
    assert run.anchored and not run.failed
    trees = {(d.channel, d.day): d for d in await storage.evidence.days()}
    # partner: its manifest, two headers, one entry and its report's own chain entry;
    # default: 3 manifests, 6 headers, 3 entries, 3 chain entries.
    assert trees[("partner", day)].leaf_count == 5
    assert trees[("default", day)].leaf_count == 15
    assert all(t.anchored for t in trees.values())

    backend = LocalBackend(storage, AuditTrail(storage.audit, custody_key), "alice",
                           custody_key=custody_key)
    bundle = tmp_path / "partner-bundle"
    await export_report(backend, partner, bundle, [reviewer], evidence=storage.evidence)
    proofs = json.loads((bundle / "timestamps/proofs.json").read_bytes())
    assert proofs and {p["tree_size"] for p in proofs} == {5}
    assert {p["day"] for p in proofs} == {day.isoformat()}
    # Nothing of the default channel: no leaf hash, no root, in hex or raw, anywhere.
    secret_hashes = [bytes.fromhex(trees[("default", day)].root)]
    for report_id in others:
        report = await storage.reports.get(report_id)
        assert report is not None
        secret_hashes.append(merkle.leaf_hash(report.manifest))
        secret_hashes += [merkle.leaf_hash(item.header) for item in report.items]
    everything = b"".join(p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file())
    for value in secret_hashes:
        assert value not in everything and value.hex().encode() not in everything
    published = tmp_path / "custody.pub.pem"
    published.write_bytes(custody_public_pem(custody_key))
    pins = load_anchors(custody_key_files=[published], tsa_ca_files=[local_tsa.pki.ca_cert])
    assert examine(bundle, pins).status == OK


async def test_trees_of_before_the_migration_stay_as_they_were(
    empty_database_url: str, tmp_path: Path
) -> None:
    """A store at 0012 with a day's tree, its leaves and token upgrades: they are kept under the
    channel "*" (they covered every channel), and proofs from them are still served."""
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.database import _alembic_config

    (tmp_path / "data").mkdir(exist_ok=True)
    engine = create_async_engine(empty_database_url)
    day = dt.date(2026, 11, 2)
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0012"))
        await connection.execute(text(
            "INSERT INTO evidence_days (day, root, leaf_count, attempts, next_attempt, "
            "last_failure) VALUES (:d, :r, 2, 1, :n, NULL)"),
            {"d": day, "r": "ab" * 32, "n": at(day, 3)})
        await connection.execute(text(
            "INSERT INTO evidence_leaves (leaf_hash, day, kind, report_id, audit_seq) VALUES "
            "(:h, :d, 'manifest', 'r1', NULL), (:g, :d, 'audit', NULL, 7)"),
            {"h": "11" * 32, "g": "22" * 32, "d": day})
        await connection.execute(text(
            "INSERT INTO evidence_tokens (day, tsa, response, ca_pem, gen_time) VALUES "
            "(:d, 'https://tsa.example', :b, :c, :t)"),
            {"d": day, "b": b"token", "c": b"pem", "t": at(day + dt.timedelta(days=1), 1)})
    await engine.dispose()

    storage = await Storage.open(empty_database_url, tmp_path / "blobs")
    try:
        (tree,) = await storage.evidence.days()
        assert (tree.channel, tree.day, tree.leaf_count, tree.anchored) == ("*", day, 2, True)
        assert await storage.evidence.leaf_hashes(day, "*") == ["11" * 32, "22" * 32]
        found = await storage.evidence.leaf("11" * 32)
        assert found is not None and found[1].channel == "*"
        assert await storage.evidence.last_audit_seq() == 7
    finally:
        await storage.close()
