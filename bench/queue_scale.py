"""Does the reviewers' queue slow down as it grows? Each list operation at N reports against 1k.

Run: .venv/bin/python bench/queue_scale.py [--sizes 1000,100000,1000000]
                                           [--backends sqlite,postgresql]
     (PostgreSQL needs INTAKE_TEST_DATABASE_URL or --pg-url; a throwaway database is made and
     dropped.) Not part of the test suite.

The store is filled in place by the database itself (a recursive CTE on SQLite,
generate_series on PostgreSQL): random report ids, days spread over a year (so many ties on
the day), statuses, priorities, a few assignees and labels, one or two items per report with
random bytes for headers. Nothing is real ciphertext; the queue never reads it. The store grows
from one size to the next, so each size is measured on a store of exactly that many reports.

Every operation is the storage layer's (storage/queue.py), which the CLI, the API and the
console call with constant overhead on top. Printed per size: the best of --repeat timed runs
of each operation (on a shared machine other work only adds time) and its ratio to the first
size. "full listing" walks every report in keyset pages of 200, as `intake review pull` does;
it is shown per report listed, since listing 1M reports is 1000 times the rows of 1k; flat
means no page costs more than the first. "total count" is O(N) by nature and only on request.

"custody records of one report" is what `intake review export` and GET /v1/reports/{id}/custody
read: one report's entries of the audit trail, through the index `audit_reports`
(storage/audit.py `entries_about`). The trail is filled beside the reports, about 2 entries
per report: two of each report's own (a status change, an opening) in random places of the
trail, and one re-wrap batch per 100 reports naming an item of each; fake entries with the
real layout (canonical JSON, no real hashes or signatures: reading does not check them),
bulk-inserted from Python with their index rows (SQLite has no SHA-256 to do it in place).
"custody, whole trail (before)" is how the chain was found before the index, decoding every
entry (review/custody/chain.py `report_records`); it runs once per size, and only up to
100,000 reports unless --whole-trail, since at 1M it takes many seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Select, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from review.custody.chain import report_records
from storage import QueueFilters, Storage, default_sqlite_url
from storage.audit import about_query
from storage.models import AuditReportRow, AuditRow, ReportRow
from storage.queue import encode_cursor, page_query

PAGE = 50
BATCH = 100  # reports named by one fake re-wrap batch entry
AUDIT_CHUNK = 20_000  # rows per bulk insert of the trail
PULL_PAGE = 200  # review.tools pages `pull` with this size
STATUSES = ("new", "triaged", "in_progress", "needs_info", "closed", "rejected")
PRIORITIES = ("low", "normal", "high", "urgent")

_SQLITE_FILL = """
INSERT INTO reports (id, received_day, status, priority, assignee, expires_on, receipt_hash,
                     submission_key, manifest, manifest_signature, witness_recipient)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
SELECT lower(hex(randomblob(16))),
       date('2025-01-01', '+' || (abs(random()) % 365) || ' days'),
       CASE abs(random()) % 6 WHEN 0 THEN 'new' WHEN 1 THEN 'triaged'
            WHEN 2 THEN 'in_progress' WHEN 3 THEN 'needs_info' WHEN 4 THEN 'closed'
            ELSE 'rejected' END,
       CASE abs(random()) % 4 WHEN 0 THEN 'low' WHEN 1 THEN 'normal' WHEN 2 THEN 'high'
            ELSE 'urgent' END,
       CASE abs(random()) % 10 WHEN 0 THEN 'rita' WHEN 1 THEN 'bo' ELSE NULL END,
       NULL, randomblob(33), randomblob(32), randomblob(120), randomblob(64), NULL
FROM n
"""
_PG_FILL = """
INSERT INTO reports (id, received_day, status, priority, assignee, expires_on, receipt_hash,
                     submission_key, manifest, manifest_signature, witness_recipient)
SELECT md5(random()::text || i::text),
       date '2025-01-01' + floor(random() * 365)::int,
       (ARRAY['new','triaged','in_progress','needs_info','closed','rejected'])
           [1 + floor(random() * 6)::int],
       (ARRAY['low','normal','high','urgent'])[1 + floor(random() * 4)::int],
       (ARRAY['rita','bo',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL])
           [1 + floor(random() * 10)::int],
       NULL,
       decode('02' || md5(random()::text) || md5(random()::text), 'hex'),
       decode(md5(random()::text) || md5(random()::text), 'hex'),
       decode(repeat(md5(random()::text), 7), 'hex'),
       decode(repeat(md5(random()::text), 4), 'hex'),
       NULL
FROM generate_series(1, :count) AS i
"""
# Items and labels for the reports just added (those without an item yet).
_ITEMS = {
    "sqlite": """
INSERT INTO items (id, report_id, seq, role, header, payload_size, payload_sha256, parent_seq)
SELECT lower(hex(randomblob(16))), r.id, s.seq, CASE s.seq WHEN 0 THEN 'answers'
       ELSE 'attachment' END, randomblob(200), 1000 + s.seq, lower(hex(randomblob(32))), NULL
FROM reports r JOIN (SELECT 0 AS seq UNION ALL SELECT 1) s
  ON s.seq = 0 OR substr(r.id, 1, 1) < '8'
WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.report_id = r.id)
""",
    "postgresql": """
INSERT INTO items (id, report_id, seq, role, header, payload_size, payload_sha256, parent_seq)
SELECT md5(random()::text || r.id || s.seq), r.id, s.seq,
       CASE s.seq WHEN 0 THEN 'answers' ELSE 'attachment' END,
       decode(repeat(md5(random()::text), 12), 'hex'), 1000 + s.seq,
       md5(random()::text) || md5(random()::text), NULL
FROM reports r JOIN (VALUES (0), (1)) AS s(seq) ON s.seq = 0 OR substr(r.id, 1, 1) < '8'
WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.report_id = r.id)
""",
}
# About one report in 16 is labelled "verified" (ids are random hex).
_LABELS = """
INSERT INTO report_labels (report_id, label, received_day)
SELECT r.id, 'verified', r.received_day FROM reports r
WHERE substr(r.id, 1, 1) = '0'
  AND NOT EXISTS (SELECT 1 FROM report_labels l WHERE l.report_id = r.id)
"""


@contextlib.asynccontextmanager
async def store_for(backend: str, pg_url: str | None) -> AsyncIterator[Storage]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="queue-scale-") as folder:
            data = Path(folder)
            storage = await Storage.open(default_sqlite_url(data), data / "blobs")
            try:
                yield storage
            finally:
                await storage.close()
        return
    import asyncpg

    if not pg_url:
        raise SystemExit("PostgreSQL: set INTAKE_TEST_DATABASE_URL or pass --pg-url")
    url = make_url(pg_url)
    name = f"queue_scale_{secrets.token_hex(4)}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    database = url.set(drivername="postgresql+asyncpg", database=name)
    storage = await Storage.open(
        database.render_as_string(hide_password=False), Path(tempfile.gettempdir()) / name
    )
    try:
        yield storage
    finally:
        await storage.close()
        connection = await asyncpg.connect(admin)
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


async def grow(storage: Storage, backend: str, count: int) -> tuple[float, str]:
    """Add `count` reports (with items, labels and audit entries); seconds taken, and the id of
    one of the new reports."""
    start = time.perf_counter()
    fill = _SQLITE_FILL if backend == "sqlite" else _PG_FILL
    async with storage.engine.begin() as connection:
        done = 0
        while done < count:
            # SQLite's recursive CTE is fastest in chunks; PostgreSQL does not mind either way.
            chunk = min(200_000, count - done)
            await connection.execute(text(fill), {"count": chunk})
            done += chunk
        new = list((await connection.execute(text(_NEW_REPORTS))).scalars())
        await connection.execute(text(_ITEMS[backend]))
        await connection.execute(text(_LABELS))
        await fill_audit(connection, new)
    async with storage.engine.connect() as connection:
        if backend == "postgresql":
            # What autovacuum does on its own soon after a bulk load.
            auto = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql("ANALYZE")
    return time.perf_counter() - start, random.choice(new)


# The reports just added: those without an item yet.
_NEW_REPORTS = (
    "SELECT id FROM reports r WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.report_id = r.id)"
)


def _fake_entry(seq: int, action: str, report_id: str | None, details: object) -> bytes:
    fields = {"seq": seq, "at": "2026-01-01T12:00:00+00:00", "actor": "rita",
              "action": action, "report_id": report_id, "details": details, "prev": "0" * 64}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


async def fill_audit(connection: AsyncConnection, report_ids: list[str]) -> None:
    """About two audit entries per report, in random trail order, with their index rows."""
    refs = [hashlib.sha256(r.encode("ascii")).hexdigest() for r in report_ids]
    # Each entry as a number (small, so that 2M of them fit): 2i and 2i+1 are report i's own
    # entries, -b-1 the batch naming reports 100b to 100b+99.
    plan = list(range(2 * len(report_ids)))
    plan += [-b - 1 for b in range((len(report_ids) + BATCH - 1) // BATCH)]
    random.shuffle(plan)
    after = int(await connection.scalar(select(func.max(AuditRow.seq))) or 0)
    entries: list[dict[str, object]] = []
    index: list[dict[str, object]] = []
    for seq, slot in enumerate(plan, start=after + 1):
        if slot >= 0:
            report = slot // 2
            action, details = (("report.status", {"status": "closed"}) if slot % 2 == 0
                               else ("access.opened", {"items": [0]}))
            entry = _fake_entry(seq, action, report_ids[report], details)
            index.append({"report_ref": bytes.fromhex(refs[report]), "seq": seq})
        else:
            named = refs[(-slot - 1) * BATCH:(-slot) * BATCH]
            entry = _fake_entry(seq, "keys.rewrap.batch", None, {"items": [[r, 1] for r in named]})
            index += [{"report_ref": bytes.fromhex(r), "seq": seq} for r in named]
        entries.append({"seq": seq, "entry": entry, "entry_hash": secrets.token_hex(32),
                        "signature": b"\0" * 64})
        if len(entries) >= AUDIT_CHUNK:
            await _insert_audit(connection, entries, index)
    await _insert_audit(connection, entries, index)


async def _insert_audit(
    connection: AsyncConnection, entries: list[dict[str, object]], index: list[dict[str, object]]
) -> None:
    if entries:
        await connection.execute(insert(AuditRow), entries)
    if index:
        await connection.execute(insert(AuditReportRow), index)
    entries.clear()
    index.clear()


async def best_seconds(operation: Callable[[], Awaitable[object]], repeat: int) -> float:
    """The fastest of `repeat` timed runs: on a shared machine other work only adds time."""
    await operation()  # warm-up: caches, prepared statements
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await operation()
        times.append(time.perf_counter() - start)
    return min(times)


async def explain(storage: Storage, query: Select[*tuple[Any, ...]]) -> str:
    """The database's plan for a query, on one line."""
    dialect = storage.engine.dialect
    compiled = query.compile(dialect=dialect)
    parameters = tuple(compiled.params[name] for name in compiled.positiontup or ())
    prefix = "EXPLAIN QUERY PLAN " if dialect.name == "sqlite" else "EXPLAIN "
    async with storage.engine.connect() as connection:
        rows = (await connection.exec_driver_sql(prefix + str(compiled), parameters)).all()
    return " | ".join(str(row[-1]).strip() for row in rows)


async def cursor_before_last_page(storage: Storage, filters: QueueFilters | None) -> str | None:
    """A cursor whose page is the last one (the position PAGE rows before the end)."""
    query = select(ReportRow.received_day, ReportRow.id).order_by(
        ReportRow.received_day.desc(), ReportRow.id.desc()
    ).offset(PAGE).limit(1)
    if filters is not None and filters.status is not None:
        query = query.where(ReportRow.status == filters.status)
    async with storage.engine.connect() as connection:
        row = (await connection.execute(query)).first()
    return None if row is None else encode_cursor(row[0], row[1])


async def measure(
    storage: Storage, size: int, repeat: int, plans: bool, sample: str, whole_trail: bool
) -> dict[str, float]:
    queue = storage.queue
    results: dict[str, float] = {}

    async def page(filters: QueueFilters | None = None, cursor: str | None = None) -> None:
        found = await queue.page(filters, cursor=cursor, limit=PAGE)
        assert len(found.reports) <= PAGE

    last = await cursor_before_last_page(storage, None)
    closed = QueueFilters(status="closed")
    last_closed = await cursor_before_last_page(storage, closed)
    results["first page"] = await best_seconds(page, repeat)
    results["last page (cursor)"] = await best_seconds(lambda: page(cursor=last), repeat)
    results["last page, status=closed"] = await best_seconds(
        lambda: page(closed, last_closed), repeat
    )
    day = (await queue.page(limit=1)).reports[0].received_day
    for name, filters in (
        ("status=closed", closed),
        ("priority=urgent", QueueFilters(priority="urgent")),
        ("assignee=rita", QueueFilters(assignee="rita")),
        ("label=verified", QueueFilters(label="verified")),
        ("received_day", QueueFilters(received_day=day)),
        ("status+priority", QueueFilters(status="closed", priority="urgent")),
        ("label nobody has", QueueFilters(label="nobody-has-this")),
        ("assignee nobody has", QueueFilters(assignee="nobody")),
    ):
        results[name] = await best_seconds(lambda f=filters: page(f), repeat)  # type: ignore[misc]
        if plans:
            plan = await explain(storage, page_query(filters, None, PAGE + 1))
            print(f"   plan {name}: {plan}")

    async def full_listing() -> None:
        listed = 0
        async for _summary in queue.walk(page_size=PULL_PAGE):
            listed += 1
        assert listed == size, (listed, size)

    start = time.perf_counter()
    await full_listing()
    results["full listing, per report"] = (time.perf_counter() - start) / size
    results["total count (asked for)"] = await best_seconds(queue.count, max(repeat // 2, 1))

    ref = hashlib.sha256(sample.encode("ascii")).digest()

    async def custody() -> None:
        found = await storage.audit.entries_about(ref)
        assert len(found) == 3, len(found)  # its two entries and its batch

    results["custody records of one report"] = await best_seconds(custody, repeat)
    if plans:
        print(f"   plan custody: {await explain(storage, about_query(ref))}")
    if whole_trail:
        async def before() -> None:
            found = report_records(await storage.audit.entries(), sample)
            assert len(found) == 3, len(found)

        start = time.perf_counter()
        await before()
        results["custody, whole trail (before)"] = time.perf_counter() - start
    return results


async def run_backend(
    backend: str, sizes: list[int], repeat: int, pg_url: str | None, plans: bool,
    whole_trail: bool,
) -> None:
    print(f"\n== {backend}")
    baseline: dict[str, float] | None = None
    async with store_for(backend, pg_url) as storage:
        stored = 0
        for size in sizes:
            filled, sample = await grow(storage, backend, size - stored)
            stored = size
            entries = await storage.audit.count()
            print(f"-- {size:,} reports, {entries:,} audit entries (filled in {filled:.1f} s)")
            results = await measure(
                storage, size, repeat, plans and size == sizes[-1], sample,
                whole_trail or size <= 100_000,
            )
            baseline = baseline or results
            for name, seconds in results.items():
                ratio = seconds / baseline[name] if baseline.get(name) else float("nan")
                unit = f"{seconds * 1e6:9.1f} us" if seconds < 0.01 else f"{seconds:9.3f} s "
                print(f"   {name:28} {unit}   x{ratio:5.2f} of {sizes[0]:,}")
            sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000,1000000",
                        help="comma-separated queue sizes, ascending; the first is the baseline")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=9,
                        help="timed runs per operation; the fastest counts")
    parser.add_argument("--plans", action="store_true",
                        help="print the database's plan of each filter at the largest size")
    parser.add_argument("--whole-trail", action="store_true",
                        help="time the chain the old way (whole trail) above 100,000 reports too")
    parser.add_argument("--pg-url", default=os.environ.get("INTAKE_TEST_DATABASE_URL"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if sizes != sorted(sizes):
        raise SystemExit("--sizes must be ascending")
    for backend in args.backends.split(","):
        asyncio.run(run_backend(
            backend, sizes, args.repeat, args.pg_url, args.plans, args.whole_trail
        ))


if __name__ == "__main__":
    main()
