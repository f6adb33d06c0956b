"""The sealed answers (bot/core/document.py) as plain strings for the page to escape and show.

The document is read defensively: the questionnaire is the organisation's to edit, older reports
may lack fields newer ones have, and every value may be hostile text. Nothing here produces HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AnswerView:
    label: str
    value: str
    type: str
    skipped: bool = False
    geo_uri: str | None = None  # opens the reviewer's own map app; nothing is fetched


def answer_views(answers: object) -> list[AnswerView]:
    if not isinstance(answers, list):
        return []
    views = []
    for answer in answers:
        if not isinstance(answer, dict) or answer.get("type") == "consent":
            continue
        label = str(answer.get("label") or answer.get("question") or "Answer")
        views.append(_view(label, answer))
    return views


def _view(label: str, answer: dict[str, Any]) -> AnswerView:
    kind = str(answer.get("type") or "text")
    if answer.get("skipped"):
        return AnswerView(label, "Skipped", kind, skipped=True)
    if kind == "date":
        if answer.get("unknown"):
            return AnswerView(label, "Not known", kind)
        return AnswerView(label, " ".join(
            str(part) for part in (answer.get("date"), answer.get("time")) if part
        ), kind)
    if kind == "media":
        value = f"{answer.get('files')} file(s), listed under Attachments"
        if isinstance(answer.get("note"), str):  # words the witness typed at the files step
            value += f"; the witness's note: {answer['note']}"
        return AnswerView(label, value, kind)
    latitude, longitude = answer.get("latitude"), answer.get("longitude")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        parts = [f"{latitude:.5f}, {longitude:.5f}"]
        if answer.get("approximate"):
            parts.append("(rounded by the witness to about a kilometre)")
        if isinstance(answer.get("text"), str):
            parts.insert(0, answer["text"])
        return AnswerView(label, " ".join(parts), kind, geo_uri=f"geo:{latitude},{longitude}")
    for key in ("texts", "choices"):
        values = answer.get(key)
        if isinstance(values, list) and values:
            return AnswerView(label, ", ".join(str(v) for v in values), kind)
    text = answer.get("text")
    if text is None or text == "":
        return AnswerView(label, "No answer", kind, skipped=True)
    return AnswerView(label, str(text), kind)
