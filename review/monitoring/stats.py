"""The overview: counts of reports by time, category, place, who was affected, status, priority.

Pure functions over Records (decrypted already); nothing here does I/O. Each figure is a list
of (key, label, count) rows in a fixed order, so the console, the CLI, the CSV and the charts
all show the same numbers.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from review.answers import Labels
from review.backend import PRIORITIES, STATUSES
from review.monitoring.cells import Cell
from review.monitoring.places import place_key
from review.monitoring.records import QuestionShape, Record

NOT_GIVEN = "(not given)"
NOT_READABLE = "(not sealed to your key)"


@dataclass(frozen=True)
class Questions:
    """Which questions the overview reads; when a report lacks the id, its first of the type."""

    category: str = "category"
    place: str = "where"
    affected: str = "affected"
    when: str = "when"


@dataclass(frozen=True)
class Filters:
    since: dt.date | None = None  # received on or after
    until: dt.date | None = None  # received on or before
    status: str | None = None
    label: str | None = None
    category: str | None = None  # a choice id of the category question

    def keeps(self, record: Record, questions: Questions) -> bool:
        summary = record.summary
        if self.since is not None and summary.received_day < self.since:
            return False
        if self.until is not None and summary.received_day > self.until:
            return False
        if self.status is not None and summary.status != self.status:
            return False
        if self.label is not None and self.label not in summary.labels:
            return False
        return self.category is None or category_of(record, questions) == self.category

    def as_query(self) -> dict[str, str]:
        values = {
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "status": self.status or "", "label": self.label or "",
            "category": self.category or "",
        }
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class Figure:
    name: str  # used in file names and URLs
    title: str
    rows: tuple[Row, ...]
    kind: str = "categories"  # or "time": drawn as columns in order

    @property
    def total(self) -> int:
        return sum(r.count for r in self.rows)


@dataclass(frozen=True)
class Overview:
    reports: int
    unreadable: int
    figures: tuple[Figure, ...]
    filters: Filters = field(default_factory=Filters)

    def figure(self, name: str) -> Figure:
        for figure in self.figures:
            if figure.name == name:
                return figure
        raise LookupError(name)


def answer_of(record: Record, question_id: str, kind: str) -> dict[str, Any] | None:
    """The answer to `question_id`, or to the report's first question of type `kind`."""
    if question_id in record.content.answers:
        return record.answer(question_id)
    for other in record.content.order:
        if record.content.answers[other].get("type") == kind:
            return record.answer(other)
    return None


def category_of(record: Record, questions: Questions) -> str | None:
    choice = (answer_of(record, questions.category, "choice") or {}).get("choice")
    return choice if isinstance(choice, str) else None


def affected_of(record: Record, questions: Questions) -> list[str]:
    choices = (answer_of(record, questions.affected, "multi") or {}).get("choices", [])
    return [c for c in choices if isinstance(c, str)]


def incident_day(record: Record, questions: Questions) -> dt.date | None:
    day = (answer_of(record, questions.when, "date") or {}).get("date")
    try:
        return dt.date.fromisoformat(day) if isinstance(day, str) else None
    except ValueError:
        return None


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def overview(
    records: Iterable[Record], filters: Filters = Filters(),
    questions: Questions = Questions(),
    names: dict[str, dict[str, str]] | None = None,
) -> Overview:
    """Count every figure; `names` (from the questionnaire) shows choices in its language."""
    kept = [r for r in records if filters.keeps(r, questions)]
    readable = [r for r in kept if r.content.readable]
    labels = choice_labels(readable, questions)
    for figure, known in (names or {}).items():
        labels.setdefault(figure, {}).update(known)
    weeks = Counter(iso_week(r.received_day) for r in kept)
    months = Counter(r.received_day.strftime("%Y-%m") for r in kept)
    incident_months = Counter(
        day.strftime("%Y-%m") if (day := incident_day(r, questions)) else NOT_GIVEN
        for r in readable
    )
    categories = Counter(category_of(r, questions) or NOT_GIVEN for r in readable)
    affected = Counter(c for r in readable for c in affected_of(r, questions) or [NOT_GIVEN])
    places: Counter[str] = Counter()
    place_names: dict[str, Counter[str]] = {}
    for record in readable:
        located = place_key(answer_of(record, questions.place, "place"))
        key, shown = located if located else (NOT_GIVEN, NOT_GIVEN)
        places[key] += 1
        place_names.setdefault(key, Counter())[shown] += 1
    figures = (
        Figure("by-week", "Reports received by week", _time_rows(weeks), "time"),
        Figure("by-month", "Reports received by month", _time_rows(months), "time"),
        Figure("by-incident-month", "Incidents by month they happened",
               _time_rows(incident_months), "time"),
        Figure("by-category", "Reports by category", _rows(categories, labels["category"])),
        Figure("by-place", "Reports by place", _rows(places, {
            k: names.most_common(1)[0][0] for k, names in place_names.items()
        })),
        Figure("by-affected", "Who was affected (a report may name several)",
               _rows(affected, labels["affected"])),
        Figure("by-status", "Reports by status", _fixed_rows(
            Counter(r.summary.status for r in kept), STATUSES)),
        Figure("by-priority", "Reports by priority", _fixed_rows(
            Counter(r.summary.priority for r in kept), PRIORITIES)),
    )
    return Overview(len(kept), len(kept) - len(readable), figures, filters)


def questionnaire_names(
    shape: Sequence[QuestionShape], questions: Questions = Questions(),
) -> dict[str, dict[str, str]]:
    """The questionnaire's own choice labels for the category and affected figures."""
    by_id = {q.id: dict(q.choices) for q in shape}
    return {
        "category": by_id.get(questions.category, {}),
        "affected": by_id.get(questions.affected, {}),
    }


def reviewer_names(
    labels: Labels, questions: Questions = Questions(),
) -> dict[str, dict[str, str]]:
    """The choice texts in the reviewer's language (INTAKE_REVIEWER_LANGUAGE) for the figures.

    With them a category is shown by one name whatever language each witness used, so it is
    one bar and one filter entry; without them, `choice_labels` picks a witness's words.
    """
    names: dict[str, dict[str, str]] = {"category": {}, "affected": {}}
    for figure, question in (("category", questions.category), ("affected", questions.affected)):
        names[figure] = {
            choice: text for (qid, choice), text in labels.choices.items()
            if qid == question and text
        }
    return names


def choice_labels(
    records: Sequence[Record], questions: Questions
) -> dict[str, dict[str, str]]:
    """How to show each choice id: its text in an English report if any, else the first seen."""
    found: dict[str, dict[str, str]] = {"category": {}, "affected": {}}
    for record in records:
        english = record.content.language == "en"
        category = answer_of(record, questions.category, "choice") or {}
        choice, text = category.get("choice"), category.get("text")
        if isinstance(choice, str) and isinstance(text, str) and (
            english or choice not in found["category"]
        ):
            found["category"][choice] = text
        affected = answer_of(record, questions.affected, "multi") or {}
        ids, texts = affected.get("choices", []), affected.get("text")
        parts = texts.split(", ") if isinstance(texts, str) else []
        if len(parts) == len(ids):
            for choice_id, part in zip(ids, parts, strict=True):
                if english or choice_id not in found["affected"]:
                    found["affected"][choice_id] = part
    return found


def _time_rows(counts: Counter[str]) -> tuple[Row, ...]:
    return tuple(Row(k, k, counts[k]) for k in sorted(counts))


def _rows(counts: Counter[str], labels: dict[str, str]) -> tuple[Row, ...]:
    ordered = sorted(counts.items(), key=lambda kv: (kv[0] == NOT_GIVEN, -kv[1], kv[0]))
    return tuple(Row(k, labels.get(k, k), n) for k, n in ordered)


def _fixed_rows(counts: Counter[str], order: tuple[str, ...]) -> tuple[Row, ...]:
    extra = sorted(set(counts) - set(order))
    return tuple(
        Row(k, k.replace("_", " "), counts[k]) for k in (*order, *extra)
    )


def figure_csv_rows(figure: Figure) -> list[list[Cell]]:
    rows: list[list[Cell]] = [["key", "label", "reports"]]
    rows.extend([r.key, r.label, r.count] for r in figure.rows)
    return rows


def overview_csv_rows(result: Overview) -> list[list[Cell]]:
    """Every figure's numbers in one table: figure, key, label, reports."""
    rows: list[list[Cell]] = [["figure", "key", "label", "reports"]]
    for figure in result.figures:
        rows.extend([figure.name, r.key, r.label, r.count] for r in figure.rows)
    return rows
