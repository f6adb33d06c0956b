"""Payloads in PostgreSQL: the store every worker reaches, behind the BlobStore interface."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

import crypto
from storage import (
    BlobStore,
    ItemRole,
    NewItem,
    NewReport,
    Storage,
    default_sqlite_url,
    payload_table,
)
from storage.payload_table import PayloadTableStore
from tests.support import fresh_postgres_database

SMALL_CHUNK = 1000


@contextlib.asynccontextmanager
async def _workers(tmp_path: Path, count: int = 2) -> AsyncIterator[list[Storage]]:
    """`count` Storage objects on one database, each with its own (empty) directory, as
    workers on separate machines would have."""
    async with fresh_postgres_database() as url:
        stores = [
            await Storage.open(url, tmp_path / f"worker{n}" / "blobs", payloads="database",
                               migrate=n == 0)
            for n in range(count)
        ]
        for store in stores:
            assert isinstance(store.blobs, PayloadTableStore)
            store.blobs.chunk_size = SMALL_CHUNK
        try:
            yield stores
        finally:
            for store in stores:
                await store.close()


def _write(store: BlobStore, data: bytes, pieces: int = 7) -> str:
    name = secrets.token_hex(16)
    step = max(1, len(data) // pieces)
    with store.create(name) as blob:
        for start in range(0, len(data), step):
            blob.write(data[start : start + step])
    return name


async def test_a_payload_written_by_one_worker_is_read_by_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written in chunks by one worker, it is whole, with the right size, for every other."""
    monkeypatch.setattr(payload_table, "_READ_AHEAD", 3 * SMALL_CHUNK)  # 3 chunks per query
    async with _workers(tmp_path) as (first, second):
        for size in (0, 1, SMALL_CHUNK - 1, SMALL_CHUNK, 3 * SMALL_CHUNK, 10 * SMALL_CHUNK + 17):
            data = os.urandom(size)
            name = await asyncio.to_thread(_write, first.blobs, data)
            assert second.blobs.exists(name)
            assert second.blobs.size(name) == size
            with second.blobs.open(name) as handle:
                assert handle.read() == data
            with second.blobs.open(name) as handle:  # and in small reads
                assert b"".join(iter(lambda h=handle: h.read(333), b"")) == data
        assert len(second.blobs.names()) == 6
        # Nothing went to either worker's directory.
        assert not any(p.is_file() for p in tmp_path.rglob("*"))


async def test_writer_hashes_and_payload_appears_only_on_commit(tmp_path: Path) -> None:
    async with _workers(tmp_path, count=1) as (store,):
        name = secrets.token_hex(16)
        writer = store.blobs.create(name)
        data = os.urandom(5 * SMALL_CHUNK + 3)
        writer.write(data)
        writer.flush()
        assert not store.blobs.exists(name)
        with pytest.raises(FileNotFoundError):
            store.blobs.open(name)
        assert len(store.blobs.temp_names()) == 1
        writer.commit()
        assert store.blobs.exists(name)
        assert store.blobs.temp_names() == []
        assert writer.size == len(data)
        assert writer.sha256_hex == hashlib.sha256(data).hexdigest()


async def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    async with _workers(tmp_path, count=1) as (store,):
        with pytest.raises(RuntimeError), store.blobs.create(secrets.token_hex(16)) as writer:
            writer.write(os.urandom(4 * SMALL_CHUNK))
            raise RuntimeError("the download broke")
        assert store.blobs.names() == []
        assert store.blobs.temp_names() == []
        async with store.engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM payload_chunks")) == 0


async def test_a_payload_deleted_while_read_is_an_error_not_a_short_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(payload_table, "_READ_AHEAD", 2 * SMALL_CHUNK)
    async with _workers(tmp_path) as (first, second):
        name = await asyncio.to_thread(_write, first.blobs, os.urandom(6 * SMALL_CHUNK))
        with first.blobs.open(name) as handle:
            assert len(handle.read(SMALL_CHUNK)) == SMALL_CHUNK
            second.blobs.delete(name)
            with pytest.raises(FileNotFoundError):
                handle.read()


async def test_delete_removes_every_chunk(tmp_path: Path) -> None:
    async with _workers(tmp_path) as (first, second):
        keep = await asyncio.to_thread(_write, first.blobs, os.urandom(3 * SMALL_CHUNK))
        gone = await asyncio.to_thread(_write, first.blobs, os.urandom(3 * SMALL_CHUNK))
        second.blobs.delete(gone)
        assert not first.blobs.exists(gone)
        assert first.blobs.names() == [keep]
        async with first.engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM payload_chunks")) == 3


async def test_sealing_from_a_worker_thread_and_opening_on_another_worker(
    tmp_path: Path,
) -> None:
    """`crypto.seal` streams into the store from a thread (as the bot seals); another worker
    opens the result with the reviewer's identity, while the event loop stays responsive."""
    identity = crypto.generate_identity()
    plaintext = os.urandom(200_000)
    async with _workers(tmp_path) as (first, second):
        name = secrets.token_hex(16)

        def seal() -> bytes:
            with first.blobs.create(name) as blob:
                return crypto.seal(io.BytesIO(plaintext), blob, [identity.recipient])

        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0)
                ticks += 1

        ticker = asyncio.create_task(tick())
        header = await asyncio.to_thread(seal)
        ticker.cancel()
        assert ticks > 10
        opened = io.BytesIO()
        with second.blobs.open(name) as payload:
            crypto.open_sealed(header, payload, opened, [identity])
        assert opened.getvalue() == plaintext


async def test_payloads_written_before_the_switch_are_still_read(tmp_path: Path) -> None:
    """Switching a PostgreSQL deployment to database payloads keeps the directory's readable."""
    async with fresh_postgres_database() as url:
        before = await Storage.open(url, tmp_path / "blobs")
        old = _write(before.blobs, b"sealed before the switch")
        await before.close()
        after = await Storage.open(url, tmp_path / "blobs", payloads="database")
        try:
            new = _write(after.blobs, b"sealed after")
            assert sorted(after.blobs.names()) == sorted([old, new])
            with after.blobs.open(old) as handle:
                assert handle.read() == b"sealed before the switch"
            assert after.blobs.size(old) == len(b"sealed before the switch")
            after.blobs.delete(old)
            assert not (tmp_path / "blobs" / old[:2] / old).exists()
            assert after.blobs.names() == [new]
        finally:
            await after.close()


async def test_orphans_in_the_table_are_swept(tmp_path: Path) -> None:
    """Chunks of an upload never committed and payloads no item refers to go; committed stay."""
    async with _workers(tmp_path) as (first, second):
        committed = await asyncio.to_thread(_write, first.blobs, os.urandom(2 * SMALL_CHUNK))
        await first.reports.add(NewReport(
            report_id=secrets.token_hex(16), received_day=dt.date(2026, 11, 28),
            receipt_hash=secrets.token_bytes(32), submission_key=secrets.token_bytes(32),
            manifest=b"{}", manifest_signature=b"\x01" * 64,
            items=(NewItem(
                item_id=committed, seq=0, role=ItemRole.ANSWERS, header=b"h",
                payload_size=2 * SMALL_CHUNK, payload_sha256="ab" * 32,
                recipient_key_ids=("0123456789abcdef",),
            ),),
        ))
        unreferenced = await asyncio.to_thread(_write, first.blobs, os.urandom(SMALL_CHUNK))
        half = first.blobs.create(secrets.token_hex(16))
        half.write(os.urandom(3 * SMALL_CHUNK))  # a worker killed mid-upload
        assert await second.sweep_orphan_payloads(dt.timedelta(hours=1)) == 0
        assert await second.sweep_orphan_payloads(dt.timedelta(0)) == 2
        assert first.blobs.names() == [committed]
        assert not first.blobs.exists(unreferenced)
        async with first.engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM payload_chunks")) == 2


async def test_database_payloads_need_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        await Storage.open(default_sqlite_url(tmp_path), tmp_path / "blobs", payloads="database")


async def test_reviewers_read_what_the_bot_sealed_on_another_worker(tmp_path: Path) -> None:
    """The bot's ItemSealer seals on one worker; LocalBackend on another reads and opens it."""
    from review.audit import AuditTrail
    from review.local import LocalBackend, NotFoundError
    from tests.review.sealed_reports import sealed_report

    custody = secrets.token_bytes(32)
    reviewer = crypto.generate_identity()
    attachment = os.urandom(50_000)
    async with _workers(tmp_path) as (bot_side, reviewer_side):
        report_id = await sealed_report(
            bot_side, custody, [reviewer.recipient], attachments=[attachment]
        )
        backend = LocalBackend(
            reviewer_side, AuditTrail(reviewer_side.audit, custody), "alice", custody_key=custody
        )
        item = await backend.item(report_id, 1)
        payload = await backend.read_payload(report_id, 1)
        assert len(payload) == item.payload_size
        assert hashlib.sha256(payload).hexdigest() == item.payload_sha256
        opened = io.BytesIO()
        crypto.open_sealed(item.header, io.BytesIO(payload), opened, [reviewer])
        assert opened.getvalue() == attachment
        reviewer_side.blobs.delete(item.item_id)
        with pytest.raises(NotFoundError):
            await backend.read_payload(report_id, 1)
