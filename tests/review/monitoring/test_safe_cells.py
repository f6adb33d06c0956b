"""Every CSV the project writes, from witnesses who type formulas: nothing a spreadsheet runs.

The witnesses answer `=HYPERLINK(...)`, `+1`, `-1`, `@SUM(1)` (and a leading tab or carriage
return) in their text answers and place names. Each CSV is read back the way a spreadsheet
reads it: the file opens as UTF-8 (byte-order mark present, for Excel), and no cell starts
the way a formula starts unless it is a plain number the program wrote. JSON Lines keeps the
exact text.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from click.testing import CliRunner

from bot.core import DEFAULT_QUESTIONNAIRE, load_questionnaire
from cli.labels import reviewer_labels
from cli.main import main
from crypto.custody import custody_public_key
from review.audit import AuditTrail
from review.console import Console
from review.local import LocalBackend
from review.monitoring.cells import BOM, csv_text, is_formula
from storage import Storage
from tests.review.monitoring.hostile import (
    FORMULAS,
    QUESTION,
    UKRAINIAN,
    SmallQueue,
)

ROOT = Path(__file__).resolve().parents[3]


def _cells(data: bytes, *, bom: bool = True) -> list[list[str]]:
    """The table as a spreadsheet gets it; the BOM is what makes Excel read UTF-8."""
    assert data.startswith(BOM.encode()) == bom
    text = data.decode("utf-8-sig")  # strict: any byte that is not UTF-8 fails here
    return list(csv.reader(io.StringIO(text, newline="")))


def _assert_nothing_runs(table: list[list[str]]) -> None:
    cells = [cell for row in table for cell in row]
    running = [cell for cell in cells if is_formula(cell)]
    assert running == []
    for formula in FORMULAS:
        # The witness's text is kept, marked as text the way OWASP describes.
        assert all(cell != formula for cell in cells), formula


def _marked(formula: str) -> str:
    """The witness's formula as the writer marks it: a leading ', and one after a carriage
    return, where a spreadsheet splitting at `;` would start a new row."""
    return "'" + formula.replace("\r=", "\r'=")


def _run(small: SmallQueue, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.setenv("INTAKE_DATA_DIR", str(small.data_dir))
    result = CliRunner().invoke(main, ["review", "--as", "alice", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_export_data_csv_neutralises_formulas_and_opens_as_utf8(
    small: SmallQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "reports.csv"
    _run(small, monkeypatch, "export-data", "-i", str(small.identity_file), "--format", "csv",
         "--out", str(out), "--no-cache")
    table = _cells(out.read_bytes())
    _assert_nothing_runs(table)
    header = table[0]
    rows = {row[0]: dict(zip(header, row, strict=True)) for row in table[1:]}
    for report_id, formula in small.formula_reports.items():
        assert rows[report_id]["what"] == _marked(formula)
        assert rows[report_id]["where.text"] == _marked(formula)
    assert rows[small.ukrainian_report]["what"] == UKRAINIAN


def test_export_data_jsonl_keeps_the_exact_text(
    small: SmallQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "reports.jsonl"
    _run(small, monkeypatch, "export-data", "-i", str(small.identity_file), "--format",
         "jsonl", "--out", str(out), "--no-cache")
    rows = {r["report_id"]: r for r in map(json.loads, out.read_text("utf-8").splitlines())}
    for report_id, formula in small.formula_reports.items():
        assert rows[report_id]["what"] == formula


def test_stats_csv_neutralises_place_names(
    small: SmallQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "numbers.csv"
    _run(small, monkeypatch, "stats", "-i", str(small.identity_file), "--csv", str(out),
         "--no-cache")
    table = _cells(out.read_bytes())
    _assert_nothing_runs(table)
    labels = {row[2] for row in table if row[0] == "by-place"}
    assert "Харків" in labels  # places are shown without their edge punctuation


def test_uwazi_import_csv_neutralises_formulas(
    small: SmallQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "uwazi.zip"
    _run(small, monkeypatch, "export-uwazi", "-i", str(small.identity_file), "--mapping",
         str(ROOT / "docs" / "examples" / "uwazi-events.toml"), "--out", str(out))
    with zipfile.ZipFile(out) as archive:
        data = archive.read("import.csv")
    # Uwazi's import reads the file, not a spreadsheet: no byte-order mark is needed there.
    table = _cells(data, bom=False)
    _assert_nothing_runs(table)


def test_the_writer_marks_text_and_leaves_numbers() -> None:
    """Numbers the program writes stay numbers; text that starts like a formula is marked."""
    text = csv_text([["-12.05", -12.05, 3, True, None, "=1+1", "a=b"]], bom=False)
    assert text == "'-12.05,-12.05,3,1,,'=1+1,a=b\r\n"


@pytest_asyncio.fixture
async def console(small: SmallQueue) -> AsyncIterator[Console]:
    storage = await Storage.open(small.database_url, small.data_dir / "blobs")
    backend = LocalBackend(storage, AuditTrail(storage.audit, small.custody_key), "alice",
                           custody_key=small.custody_key)
    running = Console(backend, [small.reviewer],
                      custody_public=custody_public_key(small.custody_key),
                      labels=reviewer_labels(load_questionnaire(DEFAULT_QUESTIONNAIRE), "en"))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
        await storage.close()


async def _get_ready(client: aiohttp.ClientSession, console: Console, path: str) -> bytes:
    import asyncio

    for _ in range(300):
        async with client.get(console.session.origin + path) as response:
            assert response.status in (200, 404)
            body = await response.read()
        if response.status == 200 and b"<progress" not in body:
            return body
        # Until the queue is decrypted the pages say "please wait"; the overview starts it.
        async with client.get(console.session.origin + "/overview"):
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never became ready")


async def test_console_csv_files_neutralise_formulas(console: Console, small: SmallQueue) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        async with client.get(console.url, allow_redirects=False) as response:
            assert response.status == 303
        for path in ("/export/reports.csv", "/overview/numbers.csv", "/overview/by-place.csv"):
            table = _cells(await _get_ready(client, console, path))
            _assert_nothing_runs(table)
        reports = _cells(await _get_ready(client, console, "/export/reports.csv"))
        header = reports[0]
        rows = {row[0]: dict(zip(header, row, strict=True)) for row in reports[1:]}
        for report_id, formula in small.formula_reports.items():
            assert rows[report_id]["what"] == _marked(formula)
        assert rows[small.ukrainian_report]["what"] == UKRAINIAN
        # The console's export has the follow-up too (tests/.../test_follow_up_exports.py).
        assert QUESTION in rows[small.followed_up]["follow_up"]


def test_a_semicolon_or_a_line_break_cannot_start_a_formula_cell() -> None:
    """Excel opens a .csv with the computer's list separator, which is `;` wherever the decimal
    mark is a comma (Ukrainian, Russian, German, French... Windows). There a comma-separated
    file splits at every `;` a witness typed, and a quote that does not open a field is a plain
    character, so a line break inside a quoted cell ends the row. A witness's `x;=1+1` or a
    second line `=1+1` would then start a cell and run. Read the file as such an Excel does."""
    hostile = [" =1+1", "x;=1+1", "a; @SUM(1)", "note\n-2+3", "first,\"second\";+4", "r\r\n=5+6",
               "x;=cmd|' /C calc'!A0"]
    text = csv_text([["report", *hostile]], bom=False)
    semicolon_cells = [cell for row in csv.reader(io.StringIO(text, newline=""), delimiter=";")
                       for cell in row]
    assert [cell for cell in semicolon_cells if is_formula(cell.lstrip())] == []
    # Read with commas, as every other reader does, each answer is one cell, still all there.
    (row,) = list(csv.reader(io.StringIO(text, newline="")))
    assert [cell for cell in row if is_formula(cell)] == []  # is_formula skips leading spaces
    assert [cell.replace("'", "") for cell in row[1:]] == [h.replace("'", "") for h in hostile]
