"""The overview's figures against direct counts of what the generator sealed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from typing import Any

from click.testing import CliRunner

from cli.main import main
from review.monitoring.stats import NOT_GIVEN, Filters, Overview, iso_week, overview
from storage import Storage
from tests.review.monitoring.conftest import REPORTS, Queue
from tests.review.monitoring.generated import LANGUAGES, Truth


def _counts(result: Overview, name: str) -> dict[str, int]:
    return {row.key: row.count for row in result.figure(name).rows if row.count}


def _expected(truths: list[Truth]) -> dict[str, Counter[str]]:
    readable = [t for t in truths if t.readable]
    return {
        "by-week": Counter(
            f"{t.received_day.isocalendar()[0]}-W{t.received_day.isocalendar()[1]:02d}"
            for t in truths),
        "by-month": Counter(f"{t.received_day.year}-{t.received_day.month:02d}" for t in truths),
        "by-incident-month": Counter(
            f"{t.when.year}-{t.when.month:02d}" if t.when else NOT_GIVEN for t in readable),
        "by-category": Counter(t.category or NOT_GIVEN for t in readable),
        "by-place": Counter(t.place_key or NOT_GIVEN for t in readable),
        "by-affected": Counter(a for t in readable for a in t.affected or (NOT_GIVEN,)),
        "by-status": Counter(t.status for t in truths),
        "by-priority": Counter(t.priority for t in truths),
    }


def test_every_figure_equals_a_direct_count(queue: Queue) -> None:
    """1,000 reports in six languages: each figure of the overview is the count of the truth."""
    assert len(queue.records) == REPORTS
    assert {t.language for t in queue.truths} == set(LANGUAGES)
    result = overview(queue.records)
    assert result.reports == REPORTS
    assert result.unreadable == sum(not t.readable for t in queue.truths) > 0
    for name, expected in _expected(queue.truths).items():
        assert _counts(result, name) == dict(expected), name


def test_filters_count_only_what_they_keep(queue: Queue) -> None:
    """Date range, status, label and category each narrow every figure to a direct count."""
    since, until = dt.date(2026, 8, 1), dt.date(2026, 9, 30)
    cases = [
        (Filters(since=since, until=until),
         lambda t: since <= t.received_day <= until),
        (Filters(status="closed"), lambda t: t.status == "closed"),
        (Filters(label="verified"), lambda t: "verified" in t.labels),
        (Filters(category="detention"), lambda t: t.readable and t.category == "detention"),
        (Filters(since=since, status="triaged", category="threats"),
         lambda t: t.received_day >= since and t.status == "triaged" and t.readable
         and t.category == "threats"),
    ]
    for filters, keeps in cases:
        kept = [t for t in queue.truths if keeps(t)]
        assert kept, filters
        result = overview(queue.records, filters)
        assert result.reports == len(kept), filters
        for name, expected in _expected(kept).items():
            assert _counts(result, name) == dict(expected), (filters, name)


def test_typed_places_are_normalised_and_points_gridded(queue: Queue) -> None:
    """Spelling noise joins one place; a shared location shows as its cell, never the point."""
    rows = {r.key: r for r in overview(queue.records).figure("by-place").rows}
    assert rows["name:kharkiv"].label in ("Kharkiv", "kharkiv.", "KHARKIV", "Kharkív")
    assert rows["grid:50.4,30.5"].label == "50.4, 30.5 (0.1° cell)"
    exact = {f"{t.point[0]:.5f}" for t in queue.truths if t.point}
    assert not any(value in row.label for row in rows.values() for value in exact)


def test_week_keys_are_iso_weeks() -> None:
    """Weeks are ISO 8601 weeks: 2026-12-31 is in week 53 of 2026, 2027-01-04 in week 1."""
    assert iso_week(dt.date(2026, 12, 31)) == "2026-W53"
    assert iso_week(dt.date(2027, 1, 4)) == "2027-W01"


def test_stats_command_prints_the_same_figures_and_writes_csv_and_charts(
    queue: Queue, tmp_path, monkeypatch
) -> None:
    """`intake review stats` decrypts here, prints each count, writes the CSV and the charts."""
    monkeypatch.setenv("INTAKE_DATA_DIR", str(queue.data_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    runner = CliRunner()
    out = tmp_path / "numbers.csv"
    args = ["review", "--as", "alice", "stats", "-i", str(queue.identity_file),
            "--status", "closed", "--csv", str(out), "--charts", str(tmp_path / "charts")]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    closed = [t for t in queue.truths if t.status == "closed"]
    assert f"{len(closed)} reports" in result.output
    import csv

    with out.open(newline="", encoding="utf-8-sig") as handle:
        table = list(csv.DictReader(handle))
    for name, expected in _expected(closed).items():
        got = {r["key"]: int(r["reports"]) for r in table
               if r["figure"] == name and r["reports"] != "0"}
        assert got == dict(expected), name
    charts = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert "by-category.svg" in charts and "by-category.png" in charts
    assert (tmp_path / "charts" / "by-place.png").read_bytes().startswith(b"\x89PNG")
    # The cache is sealed to alice's key: no answer text appears in it.
    (cache,) = (tmp_path / "cache" / "incident-intake").iterdir()
    sealed = cache.read_bytes()
    assert sealed.startswith(b"age-encryption.org/v1\n")
    assert queue.truths[0].what.encode() not in sealed
    # What was decrypted here is in the chain of custody: bulk entries as alice, via the CLI.
    cli_bulk = asyncio.run(_bulk_entries(queue, "cli"))
    assert cli_bulk and {e["actor"] for e in cli_bulk} == {"alice"}
    named = {pair[0] for e in cli_bulk for pair in e["details"]["items"]}
    assert len(named) == sum(t.readable for t in queue.truths)
    again = runner.invoke(main, [*args[:-4], "--csv", str(tmp_path / "second.csv")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "second.csv").read_text() == out.read_text()
    # The second run read the sealed cache: nothing new was decrypted, nothing new recorded.
    assert len(asyncio.run(_bulk_entries(queue, "cli"))) == len(cli_bulk)


async def _bulk_entries(queue: Queue, via: str) -> list[dict[str, Any]]:
    storage = await Storage.open(queue.database_url, queue.data_dir / "blobs")
    try:
        entries = [json.loads(r.entry) for r in await storage.audit.entries()]
    finally:
        await storage.close()
    return [e for e in entries
            if e["action"] == "access.opened.batch" and e["details"]["via"] == via]
