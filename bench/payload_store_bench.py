"""Payloads in PostgreSQL against the payload directory: what reaching every worker costs.

Run: INTAKE_TEST_DATABASE_URL=postgresql+asyncpg://... .venv/bin/python bench/payload_store_bench.py
(not part of the test suite; creates and drops its own database)

Writes and reads the same sealed payloads through both stores from worker threads, as the bot
seals them, and prints each store's throughput and the ratio of the table to the directory,
measured in the same run on the same machine.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage import BlobStore, Storage
from tests.support import fresh_postgres_database

MiB = 1024 * 1024
SIZES = (64 * 1024, 1 * MiB, 20 * MiB)
TOTAL = 80 * MiB  # written per size and store
WRITE_PIECE = 64 * 1024 + 16  # what crypto.seal hands the writer: one STREAM chunk


def write_all(store: BlobStore, payload: bytes, count: int) -> list[str]:
    names = []
    for _ in range(count):
        name = secrets.token_hex(16)
        with store.create(name) as blob:
            for start in range(0, len(payload), WRITE_PIECE):
                blob.write(payload[start : start + WRITE_PIECE])
        names.append(name)
    return names


def read_all(store: BlobStore, names: list[str]) -> int:
    total = 0
    for name in names:
        with store.open(name) as handle:
            while chunk := handle.read(MiB):
                total += len(chunk)
    return total


async def measure(store: BlobStore, size: int) -> tuple[float, float]:
    payload = os.urandom(size)
    count = max(1, TOTAL // size)
    start = time.perf_counter()
    names = await asyncio.to_thread(write_all, store, payload, count)
    written = time.perf_counter() - start
    start = time.perf_counter()
    assert await asyncio.to_thread(read_all, store, names) == size * count
    read = time.perf_counter() - start
    for name in names:
        await asyncio.to_thread(store.delete, name)
    megabytes = size * count / MiB
    return megabytes / written, megabytes / read


async def main() -> None:
    async with fresh_postgres_database() as url:
        with tempfile.TemporaryDirectory() as folder:
            directory = await Storage.open(url, Path(folder) / "dir")
            table = await Storage.open(url, Path(folder) / "unused", payloads="database")
            try:
                print(f"{'payload':>9} | {'directory MiB/s':>22} | {'table MiB/s':>22} | "
                      f"{'table/directory':>16}")
                print(f"{'':>9} | {'write':>10} {'read':>11} | {'write':>10} {'read':>11} | "
                      f"{'write':>7} {'read':>8}")
                for size in SIZES:
                    dir_write, dir_read = await measure(directory.blobs, size)
                    tab_write, tab_read = await measure(table.blobs, size)
                    label = f"{size // 1024} KiB" if size < MiB else f"{size // MiB} MiB"
                    print(f"{label:>9} | {dir_write:10.0f} {dir_read:11.0f} | "
                          f"{tab_write:10.0f} {tab_read:11.0f} | "
                          f"{tab_write / dir_write:7.2f} {tab_read / dir_read:8.2f}")
            finally:
                await directory.close()
                await table.close()


if __name__ == "__main__":
    asyncio.run(main())
