"""The console's overview, exports and corroboration pages over the 1,000-report queue."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from crypto.custody import custody_public_key
from review.audit import AuditTrail
from review.console import Console
from review.local import LocalBackend
from review.monitoring.stats import overview
from storage import Storage
from tests.review.monitoring.conftest import REPORTS, Queue
from tests.review.test_console_browser import CHROMIUM_ARGS, _playwright

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


# One console for the module: it decrypts the 1,000 reports once, as a reviewer's would.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def console(queue: Queue) -> AsyncIterator[Console]:
    storage = await Storage.open(queue.database_url, queue.data_dir / "blobs")
    backend = LocalBackend(storage, AuditTrail(storage.audit, queue.custody_key), "alice",
                           custody_key=queue.custody_key)
    running = Console(backend, [queue.reviewer],
                      custody_public=custody_public_key(queue.custody_key))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
        await storage.close()


@pytest_asyncio.fixture(loop_scope="module")
async def client(console: Console) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(console.url, allow_redirects=False) as response:
            assert response.status == 303
        yield session


async def _ready(client: aiohttp.ClientSession, console: Console, path: str) -> str:
    """Follow the self-refreshing progress page until the decrypted page is there."""
    for _ in range(600):
        async with client.get(console.session.origin + path) as response:
            assert response.status == 200
            html = await response.text()
        if "<progress" not in html:
            return html
        assert 'http-equiv="refresh"' in html
        await asyncio.sleep(0.1)
    raise AssertionError("the queue was never decrypted")


async def _get(client: aiohttp.ClientSession, console: Console, path: str) -> tuple[Any, bytes]:
    async with client.get(console.session.origin + path) as response:
        assert response.status == 200, path
        return response.headers, await response.read()


async def test_overview_page_charts_and_numbers(
    queue: Queue, console: Console, client: aiohttp.ClientSession
) -> None:
    """The page shows the counts; each chart is SVG and PNG; the CSV holds the same numbers."""
    async with client.get(console.session.origin + "/overview") as first:
        assert "<progress" in await first.text()  # the first visit starts decrypting
    html = await _ready(client, console, "/overview?status=closed")
    expected = overview(queue.records)
    closed = sum(t.status == "closed" for t in queue.truths)
    assert f"<strong>{closed}</strong> reports" in html
    for figure in expected.figures:
        assert f"/overview/charts/{figure.name}.svg?status=closed" in html
    headers, svg = await _get(client, console, "/overview/charts/by-category.svg")
    assert headers["Content-Type"] == "image/svg+xml"
    assert "sandbox" in headers["Content-Security-Policy"]
    assert svg.lstrip().startswith(b"<?xml") and b"<script" not in svg
    headers, png = await _get(client, console, "/overview/charts/by-place.png?download=1")
    assert png.startswith(b"\x89PNG") and headers["Content-Disposition"].startswith("attachment")
    _headers, data = await _get(client, console, "/overview/numbers.csv")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    for figure in expected.figures:
        got = {r["key"]: int(r["reports"]) for r in rows if r["figure"] == figure.name}
        assert got == {r.key: r.count for r in figure.rows}, figure.name
    _headers, data = await _get(client, console, "/overview/by-status.csv?status=closed")
    assert f"closed,closed,{closed}" in data.decode()

    # Decrypting the queue is in the chain of custody: a few bulk entries, as alice, via the
    # console, naming each decrypted answers item by its report's hash (never its id).
    entries = [json.loads(r.entry) for r in await console.reader.backend.storage.audit.entries()]
    bulk = [e for e in entries
            if e["action"] == "access.opened.batch" and e["details"]["via"] == "console"]
    assert bulk and {e["actor"] for e in bulk} == {"alice"}
    named = {pair[0] for e in bulk for pair in e["details"]["items"]}
    assert len(named) == sum(t.readable for t in queue.truths)
    assert not any(t.report_id in json.dumps(bulk) for t in queue.truths[:20])


async def test_export_button_gives_every_report(
    queue: Queue, console: Console, client: aiohttp.ClientSession
) -> None:
    """The export page warns that the file is plaintext; CSV and JSONL hold every report."""
    html = await _ready(client, console, "/export")
    assert "plaintext" in html
    headers, data = await _get(client, console, "/export/reports.jsonl")
    assert headers["Content-Disposition"].startswith("attachment")
    rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    assert sorted(r["report_id"] for r in rows) == sorted(t.report_id for t in queue.truths)
    whats = {t.report_id: t.what for t in queue.truths if t.readable}
    assert all(r["what"] == whats[r["report_id"]] for r in rows if r["report_id"] in whats)
    _headers, data = await _get(client, console, "/export/reports.csv")
    assert len(list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))) == REPORTS


async def test_overview_in_chromium_with_a_screenshot(queue: Queue, console: Console) -> None:
    """The overview in real Chromium: charts load under the strict CSP; a screenshot is kept."""
    async_playwright = _playwright()
    from playwright.async_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            await page.goto(console.url)
            await page.get_by_role("link", name="Overview").click()
            # The progress page refreshes itself until the queue is decrypted.
            await expect(page.locator("h1")).to_have_text("Overview")
            await expect(page.locator("section.chart")).to_have_count(8, timeout=120_000)
            await expect(page.locator(".count strong")).to_have_text(str(REPORTS))
            images = page.locator("section.chart img")
            for index in range(await images.count()):
                await images.nth(index).evaluate("img => img.decode()")
                assert await images.nth(index).evaluate("img => img.naturalWidth") > 300
            await page.select_option("select[name=category]", "detention")
            await page.get_by_role("button", name="Show").click()
            detention = sum(t.readable and t.category == "detention" for t in queue.truths)
            await expect(page.locator(".count strong")).to_have_text(str(detention))
            await page.goto(console.session.origin + "/overview")
            await page.screenshot(path=str(ARTIFACTS / "console-overview.png"), full_page=True)
            assert not problems, problems
        finally:
            await browser.close()
    assert (ARTIFACTS / "console-overview.png").stat().st_size > 50_000
