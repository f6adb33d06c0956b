"""What a witness added through /status, and the reviewers' questions, are in every export.

The report in tests/review/monitoring/hostile.py got a question (review.tools.ask_witness) and
a reply with text and a PDF through the bot's own FollowUpService. export-data (CSV and JSON
Lines) and the console's exports carry both, each with its own item number and time.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from tests.review.monitoring.hostile import ADDED_FILE, QUESTION, REPLY, SmallQueue

_MOMENT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00"


def _export(small: SmallQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> bytes:
    monkeypatch.setenv("INTAKE_DATA_DIR", str(small.data_dir))
    out = tmp_path / f"reports.{fmt}"
    result = CliRunner().invoke(main, [
        "review", "--as", "alice", "export-data", "-i", str(small.identity_file), "--format",
        fmt, "--out", str(out), "--no-cache"])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def test_jsonl_carries_the_question_and_the_addition_with_item_and_time(
    small: SmallQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _export(small, tmp_path, monkeypatch, "jsonl").decode("utf-8").splitlines()
    row = next(r for r in map(json.loads, lines) if r["report_id"] == small.followed_up)
    question, addition = row["follow_up"]
    assert question == {"kind": "question", "day": dt.date.today().isoformat(),
                        "text": QUESTION}
    assert addition["kind"] == "addition" and addition["texts"] == [REPLY]
    assert re.fullmatch(_MOMENT, addition["submitted_at"])
    # The answers are item 0; the addition and its file have their own, later, item numbers.
    (added_file,) = addition["attachments"]
    assert added_file == {"item": addition["item"] + 1,
                          "sha256": hashlib.sha256(ADDED_FILE).hexdigest()}
    assert addition["item"] > 0
    assert hashlib.sha256(ADDED_FILE).hexdigest() in row["attachments_sha256"]
    others = [r for r in map(json.loads, lines) if r["report_id"] != small.followed_up]
    assert all(r["follow_up"] == [] for r in others)


def test_csv_carries_them_one_line_each(
    small: SmallQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _export(small, tmp_path, monkeypatch, "csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    row = next(r for r in rows if r["report_id"] == small.followed_up)
    asked, added = row["follow_up"].split("\n")
    assert asked == f"question {dt.date.today().isoformat()}: {QUESTION}"
    match = re.fullmatch(
        rf"item (\d+), ({_MOMENT}): It was Market Street\. ¶ Near the bakery\. "
        r"\(files: item (\d+)\)", added)
    assert match is not None, added
    assert int(match.group(4)) == int(match.group(1)) + 1
    assert hashlib.sha256(ADDED_FILE).hexdigest() in row["attachments_sha256"].split("|")
