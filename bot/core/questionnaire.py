"""The questionnaire an organisation edits: loading, validating, and the question model.

The file is TOML (docs/questionnaire.md describes it). Loading never half-succeeds: every problem
is collected and reported with the line it is on and what to change.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_QUESTIONNAIRE = Path(__file__).resolve().parent.parent / "questionnaire.toml"
_ID = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_REPLY_LENGTH = 1000


class QuestionType(enum.StrEnum):
    CONSENT = "consent"
    CHOICE = "choice"
    MULTI = "multi"
    TEXT = "text"
    DATE = "date"
    PLACE = "place"
    MEDIA = "media"


@dataclass(frozen=True)
class Texts:
    """One piece of text in several languages, falling back to the default language."""

    by_language: Mapping[str, str]
    default_language: str

    def get(self, language: str) -> str:
        return self.by_language.get(language) or self.by_language[self.default_language]


@dataclass(frozen=True)
class Choice:
    id: str
    text: Texts
    # Said once when the witness picks this choice, before the next question (for example,
    # whom to contact when they say they are in danger).
    reply: Texts | None = None


@dataclass(frozen=True)
class Condition:
    """Show a question only when an earlier choice question has one of these answers."""

    question: str
    any_of: frozenset[str]


@dataclass(frozen=True)
class Question:
    id: str
    type: QuestionType
    text: Texts
    label: Texts
    required: bool = True
    choices: tuple[Choice, ...] = ()
    max_length: int = 3000
    max_files: int = 10
    show_if: Condition | None = None

    def choice(self, choice_id: str) -> Choice | None:
        return next((c for c in self.choices if c.id == choice_id), None)


@dataclass(frozen=True)
class Questionnaire:
    id: str
    version: int
    default_language: str
    languages: tuple[str, ...]
    questions: tuple[Question, ...] = field(default_factory=tuple)
    # SHA-256 of the questionnaire file as loaded; recorded in each report (collection report).
    sha256: str | None = None
    # Said after the receipt code (for example, when the organisation reads reports); a
    # channel's own questionnaire gives each partner its own closing words.
    closing: Texts | None = None

    def question(self, question_id: str) -> Question:
        return next(q for q in self.questions if q.id == question_id)

    def index(self, question_id: str) -> int:
        return next(i for i, q in enumerate(self.questions) if q.id == question_id)


class QuestionnaireError(Exception):
    """The questionnaire file cannot be used; `problems` names each line and its fix."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        listing = "\n".join(f"  {path.name}:{p}" for p in problems)
        super().__init__(f"the questionnaire {path} has {len(problems)} problem(s):\n{listing}")


def load_questionnaire(path: Path = DEFAULT_QUESTIONNAIRE) -> Questionnaire:
    data = path.read_bytes()
    source = data.decode("utf-8")
    try:
        raw = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        # tomllib's message already ends with "(at line N, column M)".
        raise QuestionnaireError(path, [f" TOML syntax: {error}; fix the syntax there"]) from None
    parsed = _Parser(path, source).parse(raw)
    # The bytes that were parsed, as on disk, so `sha256sum questionnaire.toml` gives the same.
    return dataclasses.replace(parsed, sha256=hashlib.sha256(data).hexdigest())


class _Parser:
    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.lines = source.splitlines()
        self.problems: list[str] = []

    def line_of(self, needle: str) -> int:
        for number, line in enumerate(self.lines, start=1):
            if needle in line:
                return number
        return 1

    def problem(self, needle: str, message: str) -> None:
        self.problems.append(f"{self.line_of(needle)}: {message}")

    def parse(self, raw: dict[str, Any]) -> Questionnaire:
        meta = raw.get("questionnaire", {})
        languages = tuple(meta.get("languages", ["en"]))
        default = meta.get("default_language", "en")
        if default not in languages:
            self.problem("default_language", f"default_language {default!r} must be in languages")
        questions = [
            self.question(entry, languages, default) for entry in raw.get("question", [])
        ]
        if not questions:
            self.problem("[questionnaire]", "add at least one [[question]] table")
        seen: set[str] = set()
        for question in questions:
            if question is None:
                continue
            if question.id in seen:
                self.problem(f'"{question.id}"', f"question id {question.id!r} is used twice")
            if question.show_if is not None and question.show_if.question not in seen:
                self.problem(
                    f'"{question.id}"',
                    f"show_if of {question.id!r} must refer to an earlier choice question",
                )
            seen.add(question.id)
        closing = self.closing(meta, languages, default)
        if self.problems:
            raise QuestionnaireError(self.path, self.problems)
        return Questionnaire(
            id=str(meta.get("id", "questionnaire")),
            version=int(meta.get("version", 1)),
            default_language=default,
            languages=languages,
            questions=tuple(q for q in questions if q is not None),
            closing=closing,
        )

    def closing(
        self, meta: dict[str, Any], languages: tuple[str, ...], default: str
    ) -> Texts | None:
        if "closing" not in meta:
            return None
        closing = self.texts(meta["closing"], "closing", languages, default)
        if closing is not None and any(
            len(text) > MAX_REPLY_LENGTH for text in closing.by_language.values()
        ):
            self.problem("closing", f"the closing text is at most {MAX_REPLY_LENGTH} "
                                    "characters; shorten it")
            return None
        return closing

    def texts(
        self, value: Any, where: str, languages: tuple[str, ...], default: str
    ) -> Texts | None:
        if isinstance(value, str):
            value = {default: value}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.problem(where, "texts are tables of language = \"text\", e.g. text.en = \"...\"")
            return None
        if default not in value:
            self.problem(where, f"add a text in the default language ({default})")
            return None
        return Texts(by_language=dict(value), default_language=default)

    def reply(
        self,
        raw_choice: dict[str, Any],
        kind: QuestionType,
        where: str,
        question_id: str,
        languages: tuple[str, ...],
        default: str,
    ) -> Texts | None:
        if "reply" not in raw_choice:
            return None
        if kind is not QuestionType.CHOICE:
            self.problem(where, f"question {question_id!r}: `reply` is used only on the "
                                "choices of a `choice` question; remove it here")
            return None
        reply = self.texts(raw_choice["reply"], where, languages, default)
        if reply is not None and any(
            len(text) > MAX_REPLY_LENGTH for text in reply.by_language.values()
        ):
            self.problem(where, f"question {question_id!r}: the reply of a choice is at most "
                                f"{MAX_REPLY_LENGTH} characters; shorten it")
            return None
        return reply

    def question(
        self, entry: dict[str, Any], languages: tuple[str, ...], default: str
    ) -> Question | None:
        question_id = entry.get("id")
        if not isinstance(question_id, str) or not _ID.fullmatch(question_id):
            self.problem(
                str(question_id), "each question needs id = \"lowercase_name\" (a-z, 0-9, _)"
            )
            return None
        where = f'"{question_id}"'
        try:
            kind = QuestionType(str(entry.get("type")))
        except ValueError:
            allowed = ", ".join(t.value for t in QuestionType)
            self.problem(where, f"question {question_id!r}: type must be one of {allowed}")
            return None
        text = self.texts(entry.get("text"), where, languages, default)
        label = self.texts(entry.get("label", entry.get("text")), where, languages, default)
        choices: list[Choice] = []
        raw_choices = entry.get("choices", [])
        if not isinstance(raw_choices, list) or not all(isinstance(c, dict) for c in raw_choices):
            self.problem(where, f"question {question_id!r}: choices is a list of tables, each "
                                "with an id and a text")
            raw_choices = []
        for raw_choice in raw_choices:
            choice_text = self.texts(raw_choice.get("text"), where, languages, default)
            reply = self.reply(raw_choice, kind, where, question_id, languages, default)
            choice_id = raw_choice.get("id")
            if not isinstance(choice_id, str) or not _ID.fullmatch(choice_id):
                self.problem(where, f"question {question_id!r}: each choice needs an id")
            elif choice_text is not None:
                choices.append(Choice(id=choice_id, text=choice_text, reply=reply))
        if kind in (QuestionType.CHOICE, QuestionType.MULTI) and len(choices) < 2:
            self.problem(where, f"question {question_id!r}: a choice question needs 2+ choices")
        show_if = None
        if "show_if" in entry:
            raw_condition = entry["show_if"]
            show_if = Condition(
                question=str(raw_condition.get("question", "")),
                any_of=frozenset(raw_condition.get("any_of", [])),
            )
        limits: dict[str, int] = {}
        for limit, fallback, ceiling in (("max_length", 3000, 4000), ("max_files", 10, 50)):
            value = entry.get(limit, fallback)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= ceiling:
                self.problem(where, f"question {question_id!r}: {limit} must be a whole number "
                                    f"from 1 to {ceiling}")
                value = fallback
            limits[limit] = value
        required = entry.get("required", kind is not QuestionType.MEDIA)
        if not isinstance(required, bool):
            self.problem(where, f"question {question_id!r}: required must be true or false")
        elif kind is QuestionType.CONSENT and not required:
            self.problem(where, f"question {question_id!r}: a consent question cannot be "
                                "optional; remove `required = false`")
        if text is None or label is None:
            return None
        return Question(
            id=question_id,
            type=kind,
            text=text,
            label=label,
            required=bool(required),
            choices=tuple(choices),
            max_length=limits["max_length"],
            max_files=limits["max_files"],
            show_if=show_if,
        )
