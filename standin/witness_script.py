"""What a scripted witness knows: the questionnaire's questions, and how to read a bot message.

The stand-in imports nothing of the bot's, so the questionnaire file is read here with
``tomllib``: only the order, ids, types, texts, labels and choices of the questions. A bot
message is recognised by its buttons and by the question text it carries (both come from the
questionnaire, which organisations edit), and only a few button labels of the bot's own are
needed (:class:`ButtonLabels`); no other sentence of the bot's is relied on.
"""

from __future__ import annotations

import enum
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from standin.models import BotMessage

#: A receipt code: 20 digits in groups of four ("1234-5678-9012-3456-7890").
RECEIPT_CODE = re.compile(r"(?<!\d)\d{4}(?:[- ]\d{4}){4}(?!\d)")
TICK = "✓ "


@dataclass(frozen=True)
class ButtonLabels:
    """The labels of the bot's own buttons a witness presses (English by default)."""

    consent: str = "Yes, continue"
    done: str = "Done"
    skip: str = "Skip"
    today: str = "Today"
    send: str = "Send"
    edit: str = "Edit an answer"


@dataclass(frozen=True)
class ScriptQuestion:
    """One question of the questionnaire, in the witness's language."""

    id: str
    type: str
    text: str
    label: str
    required: bool
    choices: tuple[tuple[str, str], ...] = ()  # (choice id, label)
    show_if: tuple[str, frozenset[str]] | None = None

    def choice_label(self, choice_id: str) -> str:
        """The button label of a choice."""
        return next(label for cid, label in self.choices if cid == choice_id)


@dataclass(frozen=True)
class WitnessScript:
    """The questions a witness will be asked, in order, and the labels of the bot's buttons."""

    questions: tuple[ScriptQuestion, ...]
    language: str = "en"
    buttons: ButtonLabels = field(default_factory=ButtonLabels)

    @classmethod
    def from_toml(
        cls, path: Path, *, language: str = "en", buttons: ButtonLabels | None = None
    ) -> WitnessScript:
        """Read a questionnaire file (e.g. the bot's ``bot/questionnaire.toml``)."""
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        default = str(raw.get("questionnaire", {}).get("default_language", "en"))

        def text(value: Any) -> str:
            if isinstance(value, str):
                return value
            return str(value.get(language) or value[default])

        questions = []
        for entry in raw.get("question", []):
            kind = str(entry["type"])
            condition = entry.get("show_if")
            questions.append(
                ScriptQuestion(
                    id=str(entry["id"]),
                    type=kind,
                    text=text(entry["text"]),
                    label=text(entry.get("label", entry["text"])),
                    required=bool(entry.get("required", kind != "media")),
                    choices=tuple(
                        (str(c["id"]), text(c["text"])) for c in entry.get("choices", [])
                    ),
                    show_if=(
                        (str(condition["question"]), frozenset(condition["any_of"]))
                        if condition
                        else None
                    ),
                )
            )
        if not questions:
            raise ValueError(f"{path} has no [[question]]")
        return cls(tuple(questions), language, buttons or ButtonLabels())

    def question(self, question_id: str) -> ScriptQuestion:
        """The question with this id."""
        return next(q for q in self.questions if q.id == question_id)

    def by_label(self, label: str) -> ScriptQuestion | None:
        """The question whose summary label this is."""
        return next((q for q in self.questions if q.label == label), None)


class Seen(enum.Enum):
    """What a bot message is, to a witness."""

    RECEIPT = "receipt"  # carries the receipt code
    SUMMARY = "summary"  # has a Send button
    PROMPT = "prompt"  # asks a question of the questionnaire
    FILES_RECEIVED = "files_received"  # the files step's buttons without its question text
    START_AGAIN = "start_again"  # no buttons, tells the witness to send /start
    OTHER = "other"  # anything else: a notice, a re-prompt's lead, an unknown menu


@dataclass(frozen=True)
class Reading:
    """How a witness reads one bot message."""

    seen: Seen
    question: ScriptQuestion | None = None
    receipt_code: str | None = None


def read_message(script: WitnessScript, message: BotMessage) -> Reading:
    """Recognise a bot message by its buttons and the questionnaire's own texts."""
    code = RECEIPT_CODE.search(message.text)
    if code is not None:
        return Reading(Seen.RECEIPT, receipt_code=code.group(0))
    labels = [label.removeprefix(TICK) for label in message.button_labels]
    if not labels:
        return Reading(Seen.START_AGAIN if "/start" in message.text else Seen.OTHER)
    if script.buttons.send in labels:
        return Reading(Seen.SUMMARY)
    asked = [q for q in script.questions if q.text in message.text]
    if asked:
        return Reading(Seen.PROMPT, max(asked, key=lambda q: len(q.text)))
    for question in script.questions:  # a re-rendered choice question without its text
        if question.choices and all(label in labels for _cid, label in question.choices):
            return Reading(Seen.PROMPT, question)
    if script.buttons.done in labels and any(q.type == "media" for q in script.questions):
        return Reading(Seen.FILES_RECEIVED, next(q for q in script.questions
                                                 if q.type == "media"))
    return Reading(Seen.OTHER)


def summary_lines(text: str) -> list[tuple[str, str]]:
    """The ``(label, answer)`` pairs of a summary's "• Label: answer" lines."""
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("•"):
            label, _sep, answer = stripped.lstrip("• ").partition(": ")
            pairs.append((label, answer))
    return pairs
