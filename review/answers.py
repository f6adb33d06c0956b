"""The sealed answers as a reviewer reads them: in the reviewer's language, never as codes.

The witness answered in their own language and the bot sealed the question labels and choice
texts in that language (bot/core/document.py), with the question and choice ids beside them.
Reviewers read every report in one language of their choosing: labels are looked up by id in
the questionnaire's own translations (a `Labels` built by the caller, since review/ does not
import the bot), and fall back to what the document holds when the questionnaire has no such
question or choice (an older version, or another organisation's file). A choice id is never
shown to a person.

The document is read defensively: older reports may lack fields newer ones have, and every
value may be hostile text. Nothing here produces HTML or terminal escapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Labels:
    """Question labels and choice texts of one questionnaire, in the reviewer's language.

    `questions` maps a question id to its label, `choices` maps (question id, choice id) to the
    choice's text, both already in `language`; `language_names` names languages in their own
    words ("Español") for the line saying which language the witness used.
    """

    language: str = DEFAULT_LANGUAGE
    questions: Mapping[str, str] = field(default_factory=dict)
    choices: Mapping[tuple[str, str], str] = field(default_factory=dict)
    language_names: Mapping[str, str] = field(default_factory=dict)

    def language_name(self, code: object) -> str | None:
        """"Español (es)" for "es"; the code alone if unknown; None if there is none."""
        if not isinstance(code, str) or not code:
            return None
        name = self.language_names.get(code)
        return f"{name} ({code})" if name else code


@dataclass(frozen=True)
class AnswerView:
    label: str
    value: str
    type: str
    skipped: bool = False
    geo_uri: str | None = None  # opens the reviewer's own map app; nothing is fetched


def answer_views(answers: object, labels: Labels | None = None) -> list[AnswerView]:
    labels = labels or Labels()
    if not isinstance(answers, list):
        return []
    views = []
    for answer in answers:
        if not isinstance(answer, dict) or answer.get("type") == "consent":
            continue
        question = answer.get("question")
        label = (
            labels.questions.get(question) if isinstance(question, str) else None
        ) or _text(answer.get("label")) or "Answer"
        views.append(_view(label, answer, labels))
    return views


def _view(label: str, answer: dict[str, Any], labels: Labels) -> AnswerView:
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
        count = answer.get("files")
        value = f"{count} file(s), listed under Attachments"
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
    if kind in ("choice", "multi"):
        return AnswerView(label, _chosen(answer, labels), kind)
    texts = answer.get("texts")
    if isinstance(texts, list) and texts:
        return AnswerView(label, ", ".join(str(v) for v in texts), kind)
    text = answer.get("text")
    if text is None or text == "":
        return AnswerView(label, "No answer", kind, skipped=True)
    return AnswerView(label, str(text), kind)


def _chosen(answer: dict[str, Any], labels: Labels) -> str:
    """The chosen options' texts in the reviewer's language; else the witness's, never ids."""
    question = answer.get("question")
    ids = answer.get("choices") if answer.get("type") == "multi" else [answer.get("choice")]
    if isinstance(question, str) and isinstance(ids, list) and ids:
        found = [labels.choices.get((question, c)) if isinstance(c, str) else None for c in ids]
        if all(found):
            return ", ".join(str(f) for f in found)
    # The questionnaire no longer has this option: the text sealed in the witness's language.
    return _text(answer.get("text")) or "An option this questionnaire no longer has"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
