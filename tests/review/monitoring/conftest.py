"""One queue of 1,000 sealed reports for the whole session: sealed once, read by many tests."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import crypto
from review.audit import AuditTrail
from review.local import LocalBackend
from review.monitoring.collect import collect, item_opener
from review.monitoring.records import Record
from storage import Storage, default_sqlite_url
from storage.server_keys import load_or_create_server_keys
from tests.review.monitoring.generated import Truth, generate
from tests.review.monitoring.hostile import SmallQueue, build_small_queue

REPORTS = 1000


@dataclass(frozen=True)
class Queue:
    data_dir: Path
    database_url: str
    custody_key: bytes
    reviewer: crypto.X25519Identity
    identity_file: Path
    truths: list[Truth]
    records: list[Record]


async def _build(
    data_dir: Path, reviewer: crypto.X25519Identity
) -> tuple[list[Truth], list[Record], bytes]:
    keys = load_or_create_server_keys(data_dir)
    url = default_sqlite_url(data_dir)
    storage = await Storage.open(url, data_dir / "blobs")
    try:
        truths = await generate(storage, keys.custody_key, reviewer.recipient, REPORTS)
        backend = LocalBackend(storage, AuditTrail(storage.audit, keys.custody_key), "alice")
        records = await collect(backend, item_opener(backend, [reviewer]))
    finally:
        await storage.close()
    return truths, records, keys.custody_key


@pytest.fixture(scope="session")
def queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Queue]:
    """Sealed once per session, on a RAM disk when there is one: the store fsyncs every blob
    and commit (as it must), which on a shared disk would make 1,000 reports take a minute."""
    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path_factory.mktemp("q")
    data_dir = base / "data"
    data_dir.mkdir()
    reviewer = crypto.generate_identity()
    identity_file = data_dir.parent / "alice.key"
    identity_file.write_text(f"{reviewer}\n")
    started = time.perf_counter()
    truths, records, custody_key = asyncio.run(_build(data_dir, reviewer))
    print(f"sealed and read {REPORTS} reports in {time.perf_counter() - started:.1f}s")
    try:
        yield Queue(data_dir, default_sqlite_url(data_dir), custody_key, reviewer,
                    identity_file, truths, records)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def queue_backend(queue: Queue) -> AsyncIterator[LocalBackend]:
    storage = await Storage.open(queue.database_url, queue.data_dir / "blobs")
    try:
        yield LocalBackend(storage, AuditTrail(storage.audit, queue.custody_key), "alice",
                           custody_key=queue.custody_key)
    finally:
        await storage.close()


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> SmallQueue:
    """A few reports whose witnesses type formulas and Ukrainian, and one with a follow-up."""
    return build_small_queue(tmp_path_factory.mktemp("hostile"))
