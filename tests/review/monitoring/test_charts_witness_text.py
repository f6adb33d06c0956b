"""Charts that witness text cannot break, named in one language.

A witness answer `$\\frac{a}{$` is what matplotlib would read as mathtext and fail on; it must
be drawn as the text it is. One category answered by witnesses in six languages is one bar
and one filter entry, named in the reviewers' language (INTAKE_REVIEWER_LANGUAGE), in the
console as in `intake review stats`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, load_questionnaire
from bot.core.draft import ChoiceAnswer, PlaceAnswer
from cli.labels import reviewer_labels
from cli.main import main
from crypto.custody import custody_public_key
from review.audit import AuditTrail
from review.console import Console
from review.local import LocalBackend
from review.monitoring.charts import render_chart
from review.monitoring.stats import Figure, Row
from review.recipients import add_reviewer
from storage import Storage
from storage.server_keys import load_or_create_server_keys
from tests.review.monitoring.hostile import SmallQueue
from tests.review.test_console import submit_report

MATHTEXT = r"$\frac{a}{$"
LANGUAGES = ("en", "uk", "ru", "ar", "es", "fr")
FRENCH_DETENTION = "Arrestation ou détention"


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_mathtext_in_witness_text_is_drawn_as_text(fmt: str) -> None:
    figure = Figure("by-place", f"Reports {MATHTEXT}", (Row("a", MATHTEXT, 3), Row("b", "$x$", 1)))
    data = render_chart(figure, fmt)
    assert data.startswith(b"<?xml" if fmt == "svg" else b"\x89PNG")


@pytest.fixture
async def french_console(storage: Storage, tmp_path: Path) -> AsyncIterator[Console]:
    keys = load_or_create_server_keys(tmp_path / "server")
    reviewer = crypto.generate_identity()
    await add_reviewer(storage, "alice", str(reviewer.recipient))
    for language in LANGUAGES:
        await submit_report(storage, keys, MATHTEXT, language=language, answers={
            "category": ChoiceAnswer("detention"), "where": PlaceAnswer(MATHTEXT)})
    backend = LocalBackend(storage, AuditTrail(storage.audit, keys.custody_key), "alice",
                           custody_key=keys.custody_key)
    console = Console(backend, [reviewer], custody_public=custody_public_key(keys.custody_key),
                      labels=reviewer_labels(load_questionnaire(DEFAULT_QUESTIONNAIRE), "fr"))
    await console.start()
    try:
        yield console
    finally:
        await console.stop()


async def test_console_one_category_one_bar_one_filter_entry_in_the_reviewers_language(
    french_console: Console,
) -> None:
    origin = french_console.session.origin
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        async with client.get(french_console.url, allow_redirects=False) as response:
            assert response.status == 303
        html = ""
        for _ in range(300):
            async with client.get(origin + "/overview") as response:
                html = await response.text()
            if "<progress" not in html:
                break
            await asyncio.sleep(0.1)
        section = html.split('id="by-category"')[1].split("</section>")[0]
        cells = re.findall(r'<tr><td dir="auto">([^<]*)</td><td>(\d+)</td></tr>', section)
        assert cells == [(FRENCH_DETENTION, "6")]
        filter_box = html.split('name="category"')[1].split("</select>")[0]
        options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', filter_box)
        assert options == [("", "Any"), ("detention", FRENCH_DETENTION)]
        for name in ("by-category", "by-place"):
            for fmt in ("svg", "png"):
                async with client.get(f"{origin}/overview/charts/{name}.{fmt}") as response:
                    assert response.status == 200, (name, fmt)
                    assert len(await response.read()) > 1000


def test_stats_names_categories_in_the_reviewers_language(
    small: SmallQueue, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INTAKE_DATA_DIR", str(small.data_dir))
    monkeypatch.setenv("INTAKE_REVIEWER_LANGUAGE", "fr")
    result = CliRunner().invoke(main, [
        "review", "--as", "alice", "stats", "-i", str(small.identity_file), "--no-cache",
        "--charts", str(tmp_path / "charts")])
    assert result.exit_code == 0, result.output
    by_category = result.output.split("Reports by category")[1].split("\n\n")[0]
    assert "Violence contre des personnes" in by_category
    assert "Violence against people" not in by_category
    assert (tmp_path / "charts" / "by-place.png").read_bytes().startswith(b"\x89PNG")
