"""Exports for analysts: one row per report, as CSV or JSON Lines.

Columns are stable: they come from the questionnaire's question ids (and choice ids), not from
labels in the witness's language, so a file exported next month has the same columns, and a
question no report answered still has its column. A multiple-choice question becomes one
column per choice (`affected.children` = 1 or 0); a place becomes text, latitude, longitude
and whether the witness coarsened it; dates are ISO 8601. Metadata columns come first:
report id, day received, status, priority, labels, then language and time of submission.

These files are plaintext: whoever can read the file reads the reports. They are written only
where the reviewer says, never over an existing file unless asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from review.monitoring import cells
from review.monitoring.cells import Cell
from review.monitoring.records import QuestionShape, Record

FORMATS = ("csv", "jsonl")
META_COLUMNS = (
    "report_id", "received_day", "status", "priority", "labels", "language", "submitted_at",
)
ATTACHMENT_COLUMN = "attachments_sha256"
FOLLOW_UP_COLUMN = "follow_up"
PLAINTEXT_WARNING = (
    "This file is plaintext: anyone who can read it can read these reports. Keep it on an "
    "encrypted disk, share it only over an encrypted channel, and delete it when done."
)


class ExportError(Exception):
    """The export cannot be written where asked; the message says what to do."""


def columns(shape: Sequence[QuestionShape]) -> list[str]:
    names = list(META_COLUMNS)
    for question in shape:
        names.extend(question_columns(question))
    names.extend((ATTACHMENT_COLUMN, FOLLOW_UP_COLUMN))
    return names


def question_columns(question: QuestionShape) -> list[str]:
    qid = question.id
    if question.type == "multi":
        return [f"{qid}.{choice}" for choice, _label in question.choices]
    if question.type == "place":
        return [f"{qid}.text", f"{qid}.latitude", f"{qid}.longitude", f"{qid}.approximate"]
    if question.type == "date":
        return [qid, f"{qid}.time"]
    if question.type == "media":
        return [f"{qid}.files"]
    return [qid]


def row(record: Record, shape: Sequence[QuestionShape]) -> dict[str, Any]:
    """One report as typed values: str, int, float, bool, list or None (not answered)."""
    summary = record.summary
    values: dict[str, Any] = {
        "report_id": summary.report_id,
        "received_day": summary.received_day.isoformat(),
        "status": summary.status,
        "priority": summary.priority,
        "labels": list(summary.labels),
        "language": record.content.language,
        "submitted_at": record.content.submitted_at,
    }
    for question in shape:
        answer = record.answer(question.id)
        values.update(_answer_values(question, answer, record.content.readable))
    values[ATTACHMENT_COLUMN] = [
        a.sha256 for a in record.content.attachments if a.sha256 is not None
    ]
    values[FOLLOW_UP_COLUMN] = [dict(entry) for entry in record.content.follow_up]
    return values


def _answer_values(
    question: QuestionShape, answer: dict[str, Any] | None, readable: bool
) -> dict[str, Any]:
    qid = question.id
    names = question_columns(question)
    if answer is None:
        if question.type == "multi" and readable:
            return dict.fromkeys(names, False)
        return dict.fromkeys(names)
    if question.type == "multi":
        chosen = set(answer.get("choices", []))
        return {f"{qid}.{c}": c in chosen for c, _label in question.choices}
    if question.type == "place":
        return {
            f"{qid}.text": answer.get("text"), f"{qid}.latitude": answer.get("latitude"),
            f"{qid}.longitude": answer.get("longitude"),
            f"{qid}.approximate": answer.get("approximate"),
        }
    if question.type == "date":
        return {qid: answer.get("date"), f"{qid}.time": answer.get("time")}
    if question.type == "media":
        return {f"{qid}.files": answer.get("files")}
    if question.type == "choice":
        return {qid: answer.get("choice")}
    return {qid: answer.get("text")}


def follow_up_lines(entries: Sequence[dict[str, Any]]) -> str:
    """The conversation after the report as text, one line per question or addition.

    `question 2026-07-03: Which street?` and `item 5, 2026-07-04T09:30:00+00:00: It was Market
    Street. (files: item 6)`; a line break a witness typed is shown as ¶, so that each line
    is one entry.
    """
    lines = []
    for entry in entries:
        if entry.get("kind") == "question":
            text = entry.get("text")
            said = one_line(text) if isinstance(text, str) else "(sealed to the witness's key only)"
            lines.append(f"question {entry.get('day')}: {said}")
            continue
        files = [f"item {f['item']}" for f in entry.get("attachments", [])]
        said = " / ".join(one_line(t) for t in entry.get("texts", []))
        extra = f" (files: {', '.join(files)})" if files else ""
        lines.append(f"item {entry.get('item')}, {entry.get('submitted_at')}: {said}{extra}")
    return "\n".join(lines)


def one_line(text: str) -> str:
    """Text on one line: each line break (CR LF, CR or LF) shown as ¶."""
    return " ¶ ".join(part.strip() for part in text.splitlines()) if text else text


def csv_cell(value: Any) -> Cell:
    """How a typed value goes into CSV: lists joined by `|`; the rest as `cells.cell_text` says."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return follow_up_lines(value)
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def csv_text(records: Sequence[Record], shape: Sequence[QuestionShape]) -> str:
    """UTF-8 CSV with a byte-order mark, every cell safe to open in a spreadsheet (cells.py)."""
    names = columns(shape)

    def rows() -> Iterator[list[Cell]]:
        yield list(names)
        for record in records:
            values = row(record, shape)
            yield [csv_cell(values.get(name)) for name in names]

    return cells.csv_text(rows())


def jsonl_lines(records: Sequence[Record], shape: Sequence[QuestionShape]) -> Iterator[str]:
    for record in records:
        yield json.dumps(row(record, shape), ensure_ascii=False) + "\n"


def export_text(records: Sequence[Record], shape: Sequence[QuestionShape], fmt: str) -> str:
    if fmt == "csv":
        return csv_text(records, shape)
    if fmt == "jsonl":
        return "".join(jsonl_lines(records, shape))
    raise ExportError(f"the format is one of: {', '.join(FORMATS)}")


def write_export(path: Path, text: str, *, force: bool = False) -> None:
    """Write `text` to exactly `path`, readable by its owner only; never over a file unasked."""
    if path.is_dir():
        raise ExportError(f"{path} is a folder: give a file name, e.g. {path / 'reports.csv'}")
    if not path.parent.is_dir():
        raise ExportError(f"the folder {path.parent} does not exist: create it first")
    mode = "w" if force else "x"
    try:
        with path.open(mode, encoding="utf-8", newline="") as out:
            path.chmod(0o600)
            out.write(text)
    except FileExistsError:
        raise ExportError(f"{path} exists: choose another name, or pass --force") from None
