"""Orphan payloads: blobs no item row refers to are swept after a grace period, counted."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

import pytest

from storage import ItemRole, NewItem, NewReport, Storage, orphans
from storage.orphans import OrphanSweeper

DAY = dt.date(2026, 11, 28)
HOUR = dt.timedelta(hours=1)


def _write_blob(storage: Storage, body: bytes = b"ciphertext" * 10) -> str:
    name = secrets.token_hex(16)
    with storage.blobs.create(name) as blob:
        blob.write(body)
    return name


async def _commit_report(storage: Storage, *item_ids: str) -> None:
    await storage.reports.add(NewReport(
        report_id=secrets.token_hex(16),
        received_day=DAY,
        receipt_hash=secrets.token_bytes(32),
        submission_key=secrets.token_bytes(32),
        manifest=b"{}",
        manifest_signature=b"\x01" * 64,
        items=tuple(
            NewItem(
                item_id=item_id, seq=seq, role=ItemRole.ANSWERS, header=b"h", payload_size=100,
                payload_sha256="ab" * 32, recipient_key_ids=("0123456789abcdef",),
            )
            for seq, item_id in enumerate(item_ids)
        ),
    ))


async def test_unreferenced_blob_is_swept_and_counted(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """A blob written without a commit (a crash before the row) goes; committed ones stay."""
    committed = _write_blob(storage)
    await _commit_report(storage, committed)
    orphan = _write_blob(storage)
    with caplog.at_level(logging.INFO, logger="intake.storage"):
        assert await storage.sweep_orphan_payloads(dt.timedelta(0)) == 1
    assert not storage.blobs.exists(orphan)
    assert storage.blobs.exists(committed)
    assert await storage.sweep_orphan_payloads(dt.timedelta(0)) == 0
    assert storage.blobs.names() == [committed]
    (record,) = [r for r in caplog.records if r.msg == "payload.orphans_swept"]
    assert record.__dict__["count"] == 1
    assert orphan not in record.getMessage() and not record.args


async def test_leftover_temporary_file_is_swept(storage: Storage) -> None:
    """A `.tmp-*` file left by a crash mid-write is swept like an orphan blob."""
    writer = storage.blobs.create(secrets.token_hex(16))
    writer.write(b"half a payload")
    writer.flush()
    assert len(storage.blobs.temp_names()) == 1
    assert await storage.sweep_orphan_payloads(dt.timedelta(0)) == 1
    assert storage.blobs.temp_names() == []
    writer.discard()


async def test_in_flight_blob_is_kept_for_the_grace_period(storage: Storage) -> None:
    """An unreferenced blob younger than the grace period stays; if its row is committed
    meanwhile it is never swept; if not, it goes once the grace period is over."""
    now = [1000.0]
    sweeper = OrphanSweeper(storage.conversations._sessions, storage.blobs, lambda: now[0])
    in_flight = _write_blob(storage)
    abandoned = _write_blob(storage)
    assert await sweeper.sweep(HOUR) == 0
    assert sweeper.waiting == 2
    now[0] += 1800
    await _commit_report(storage, in_flight)
    assert await sweeper.sweep(HOUR) == 0
    assert sweeper.waiting == 1
    now[0] += 1800
    assert await sweeper.sweep(HOUR) == 1
    assert storage.blobs.exists(in_flight)
    assert not storage.blobs.exists(abandoned)
    now[0] += 10 * 3600
    assert await sweeper.sweep(HOUR) == 0
    assert storage.blobs.exists(in_flight)


async def test_a_blob_first_seen_late_gets_its_full_grace(storage: Storage) -> None:
    """The grace period runs from when the sweeper first saw a blob, not from its first pass."""
    now = [0.0]
    sweeper = OrphanSweeper(storage.conversations._sessions, storage.blobs, lambda: now[0])
    assert await sweeper.sweep(HOUR) == 0
    now[0] += 5 * 3600
    late = _write_blob(storage)
    assert await sweeper.sweep(HOUR) == 0
    now[0] += 3599
    assert await sweeper.sweep(HOUR) == 0
    assert storage.blobs.exists(late)
    now[0] += 1
    assert await sweeper.sweep(HOUR) == 1


async def test_many_committed_blobs_are_all_kept(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More blobs than one database query checks at a time: none committed is swept."""
    monkeypatch.setattr(orphans, "_QUERY_CHUNK", 7)
    names = [_write_blob(storage, b"x") for _ in range(33)]
    await _commit_report(storage, *names[:20])
    assert await storage.sweep_orphan_payloads(dt.timedelta(0)) == 13
    assert sorted(storage.blobs.names()) == sorted(names[:20])
