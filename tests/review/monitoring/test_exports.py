"""CSV and JSON Lines exports read back with the standard library give the sealed answers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.core import DEFAULT_QUESTIONNAIRE
from cli.main import main
from review.monitoring.records import merged_shape, questionnaire_shape
from review.monitoring.tables import ExportError, columns, export_text, write_export
from tests.review.monitoring.conftest import REPORTS, Queue
from tests.review.monitoring.generated import AFFECTED, Truth


def _check_row(truth: Truth, got: dict[str, object], *, csv_text: bool) -> None:
    """One exported row against what the generator sealed (CSV cells are strings)."""

    def value(v: object) -> object:
        if not csv_text:
            return v
        if v is None:
            return ""
        if isinstance(v, bool):
            return "1" if v else "0"
        if isinstance(v, list | tuple):
            return "|".join(str(x) for x in v)
        return str(v)

    assert got["report_id"] == truth.report_id
    assert got["received_day"] == truth.received_day.isoformat()
    assert got["status"] == value(truth.status)
    assert got["priority"] == value(truth.priority)
    assert got["labels"] == value(list(truth.labels))
    hashes = list(truth.attachment_sha256) if truth.readable else []
    assert got["attachments_sha256"] == value(hashes)
    if not truth.readable:
        assert got["what"] == value(None)
        return
    assert got["language"] == truth.language
    assert got["submitted_at"] == f"{truth.received_day.isoformat()}T12:00:00+00:00"
    assert got["category"] == value(truth.category)
    assert got["what"] == truth.what
    assert got["when"] == value(truth.when.isoformat() if truth.when else None)
    for choice in AFFECTED:
        assert got[f"affected.{choice}"] == value(choice in truth.affected), choice
    assert got["where.text"] == value(truth.place_text)
    if truth.point is None:
        assert got["where.latitude"] == value(None)
    elif csv_text:
        assert float(str(got["where.latitude"])) == truth.point[0]
        assert float(str(got["where.longitude"])) == truth.point[1]
    else:
        assert got["where.latitude"] == truth.point[0]
        assert got["where.longitude"] == truth.point[1]
    assert got["evidence.files"] == value(len(truth.attachment_sha256))


def _shape(queue: Queue) -> list:
    return merged_shape(questionnaire_shape(DEFAULT_QUESTIONNAIRE), queue.records)


def test_csv_round_trips_through_the_standard_library(queue: Queue) -> None:
    """Every cell of every row read back by csv.DictReader equals what was sealed."""
    text = export_text(queue.records, _shape(queue), "csv")
    rows = list(csv.DictReader(text.removeprefix("\ufeff").splitlines(keepends=True)))
    assert len(rows) == REPORTS
    truths = {t.report_id: t for t in queue.truths}
    for row in rows:
        _check_row(truths[row["report_id"]], row, csv_text=True)


def test_jsonl_round_trips_through_the_standard_library(queue: Queue) -> None:
    """Each line is one JSON object; typed values (bool, float, list, null) survive."""
    text = export_text(queue.records, _shape(queue), "jsonl")
    lines = text.splitlines()
    assert len(lines) == REPORTS
    truths = {t.report_id: t for t in queue.truths}
    for line in lines:
        row = json.loads(line)
        _check_row(truths[row["report_id"]], row, csv_text=False)


def test_columns_are_stable_question_ids_one_per_choice(queue: Queue) -> None:
    """Columns come from the questionnaire, not from who answered: same with no reports."""
    shape = questionnaire_shape(DEFAULT_QUESTIONNAIRE)
    names = columns(shape)
    assert names[:5] == ["report_id", "received_day", "status", "priority", "labels"]
    assert [n for n in names if n.startswith("affected.")] == [f"affected.{a}" for a in AFFECTED]
    assert "safety" not in names  # consent is not an answer
    assert columns(merged_shape(shape, queue.records)) == names
    assert columns(merged_shape(shape, [])) == names
    header = export_text([], shape, "csv").removeprefix("\ufeff").splitlines()[0]
    assert header.split(",") == names


def test_export_writes_only_where_told_and_never_over_a_file(tmp_path: Path) -> None:
    """An existing file is refused without force; the file is the owner's alone."""
    target = tmp_path / "out.csv"
    write_export(target, "a\n")
    assert target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ExportError, match="--force"):
        write_export(target, "b\n")
    assert target.read_text() == "a\n"
    write_export(target, "b\n", force=True)
    assert target.read_text() == "b\n"
    with pytest.raises(ExportError, match="does not exist"):
        write_export(tmp_path / "missing" / "x.csv", "")


def test_export_data_command_warns_and_round_trips(
    queue: Queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`intake review export-data` writes the file, says it is plaintext, refuses to overwrite."""
    monkeypatch.setenv("INTAKE_DATA_DIR", str(queue.data_dir))
    out = tmp_path / "reports.jsonl"
    args = ["review", "--as", "alice", "export-data", "-i", str(queue.identity_file),
            "--format", "jsonl", "--out", str(out), "--no-cache"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "plaintext" in result.output
    truths = {t.report_id: t for t in queue.truths}
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == REPORTS
    for row in rows:
        _check_row(truths[row["report_id"]], row, csv_text=False)
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "--force" in again.output
    assert not list((tmp_path).glob(".cache-*"))
