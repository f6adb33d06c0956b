"""How long does the overview take for 10,000 reports, against decrypting them alone?

Run: .venv/bin/python bench/overview_bench.py [--reports 10000]   (not part of the test suite)

The reports are real: answers documents written by the bot's `report_document` from the
shipped questionnaire in six languages, sealed by the bot's ItemSealer into a throwaway SQLite
store (on /dev/shm when there is one, so the disk does not dominate). Timed in one run:

  baseline   fetch every report's summary and header, read and decrypt its answers item, and
             parse the JSON: the least any overview must do (same concurrency as collect)
  collect    the same through review.monitoring.collect, into Records
  overview   collect, then count every figure and draw all eight charts as SVG
  cached     the overview again from the reviewer's sealed cache (opened and decrypted)
  counting   the counts alone, over Records in memory
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import crypto
from review.audit import AuditTrail
from review.local import LocalBackend
from review.monitoring.cache import load_cache, save_cache
from review.monitoring.charts import render_chart
from review.monitoring.collect import CONCURRENCY, all_summaries, collect, item_opener
from review.monitoring.records import Record
from review.monitoring.stats import overview
from storage import ItemRole, Storage, default_sqlite_url
from storage.server_keys import load_or_create_server_keys
from tests.review.monitoring.generated import generate


async def baseline(backend: LocalBackend, identity: crypto.Identity) -> int:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(report_id: str) -> int:
        async with limit:
            report = await backend.get_report(report_id)
            answers = next(i for i in report.items if i.role is ItemRole.ANSWERS)
            with backend.storage.blobs.open(answers.item_id) as handle:
                payload = handle.read()
            try:
                return len(json.loads(crypto.open_bytes(answers.header, payload, [identity])))
            except crypto.DecryptionError:
                return 0

    summaries = await all_summaries(backend)
    return sum(await asyncio.gather(*(one(s.report_id) for s in summaries)))


def draw(records: list[Record]) -> int:
    result = overview(records)
    return sum(len(render_chart(figure, "svg")) for figure in result.figures)


async def run(count: int, where: Path) -> None:
    data_dir = where / "data"
    keys = load_or_create_server_keys(data_dir)
    reviewer = crypto.generate_identity()
    storage = await Storage.open(default_sqlite_url(data_dir), data_dir / "blobs")
    try:
        started = time.perf_counter()
        await generate(storage, keys.custody_key, reviewer.recipient, count)
        print(f"sealed {count} reports in {time.perf_counter() - started:.1f} s (setup)")
        backend = LocalBackend(storage, AuditTrail(storage.audit, keys.custody_key), "bench")
        opener = item_opener(backend, [reviewer])
        render_chart(overview([]).figures[0], "svg")  # warm-up: matplotlib's font cache

        timings: dict[str, float] = {}
        started = time.perf_counter()
        await baseline(backend, reviewer)
        timings["baseline"] = time.perf_counter() - started

        started = time.perf_counter()
        records = await collect(backend, opener)
        timings["collect"] = time.perf_counter() - started

        started = time.perf_counter()
        records = await collect(backend, opener)
        draw(records)
        timings["overview"] = time.perf_counter() - started

        cache = where / "cache.age"
        save_cache(cache, records, [reviewer])
        started = time.perf_counter()
        cached = load_cache(cache, [reviewer])
        records = await collect(backend, opener, cached=cached)
        draw(records)
        timings["cached"] = time.perf_counter() - started

        started = time.perf_counter()
        for _ in range(5):
            overview(records)
        timings["counting"] = (time.perf_counter() - started) / 5
    finally:
        await storage.close()
    base = timings["baseline"]
    print(f"\n{count} reports; cache file {cache.stat().st_size / 1e6:.1f} MB (sealed)")
    print(f"{'step':<10} {'seconds':>9} {'per report':>12} {'x baseline':>11}")
    for name, seconds in timings.items():
        per_report = seconds / count * 1000
        print(f"{name:<10} {seconds:>9.2f} {per_report:>9.2f} ms {seconds / base:>10.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=10_000)
    arguments = parser.parse_args()
    shm = Path("/dev/shm")
    where = Path(tempfile.mkdtemp(dir=shm if shm.is_dir() else None))
    try:
        asyncio.run(run(arguments.reports, where))
    finally:
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
