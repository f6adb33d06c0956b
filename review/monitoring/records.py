"""A decrypted report reduced to what monitoring needs, and the questionnaire's shape.

The sealed answers document (docs/storage-format.md; written by the bot) is read defensively:
an organisation edits its questionnaire, older reports lack newer questions, and every value
may be hostile text. Only known keys of the right type are kept.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from review.tools import day_sent, in_conversation_order
from storage import ReportSummary

# Keys of an answer entry worth keeping, with the type each must have.
_ANSWER_KEYS: dict[str, type | tuple[type, ...]] = {
    "type": str, "label": str, "skipped": bool, "choice": str, "choices": list, "text": str,
    "date": str, "time": str, "unknown": bool, "latitude": (int, float),
    "longitude": (int, float), "approximate": bool, "files": int,
}
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")  # what is hashed and shown


@dataclass(frozen=True)
class AttachmentRecord:
    seq: int
    kind: str
    sha256: str | None
    size: int | None
    mime_type: str | None
    phash: str | None = None  # 16 hex digits, when images were hashed
    # The type the decrypted bytes show (when images were looked for), not what Telegram said.
    sniffed: str | None = None

    @property
    def is_image(self) -> bool:
        if self.sniffed is not None:
            return self.sniffed in IMAGE_TYPES
        return self.kind == "photo" or (self.mime_type or "").lower() in IMAGE_TYPES


@dataclass(frozen=True)
class Content:
    """What one report says, once decrypted: the part a sealed cache may keep."""

    item_count: int  # the report's items when read: an addition makes the cache entry stale
    readable: bool
    language: str | None = None
    submitted_at: str | None = None
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # by question id
    order: tuple[str, ...] = ()  # question ids as the document lists them
    attachments: tuple[AttachmentRecord, ...] = ()
    addition_texts: tuple[str, ...] = ()
    images_hashed: bool = False
    # The reviewers' questions and the witness's additions (/status), in conversation order:
    # {"kind": "question", "day", "text"} and {"kind": "addition", "item", "submitted_at",
    # "texts", "attachments": [{"item", "sha256"}]} (see `follow_up_entries`).
    follow_up: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "item_count": self.item_count, "readable": self.readable,
            "language": self.language, "submitted_at": self.submitted_at,
            "answers": self.answers, "order": list(self.order),
            "attachments": [a.__dict__ for a in self.attachments],
            "addition_texts": list(self.addition_texts), "images_hashed": self.images_hashed,
            "follow_up": list(self.follow_up),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Content:
        return cls(
            item_count=int(data["item_count"]), readable=bool(data["readable"]),
            language=data.get("language"), submitted_at=data.get("submitted_at"),
            answers=dict(data.get("answers", {})), order=tuple(data.get("order", ())),
            attachments=tuple(AttachmentRecord(**a) for a in data.get("attachments", ())),
            addition_texts=tuple(data.get("addition_texts", ())),
            images_hashed=bool(data.get("images_hashed")),
            follow_up=tuple(data.get("follow_up", ())),
        )


@dataclass(frozen=True)
class Record:
    """A report as monitoring sees it: its clear metadata (fresh) and its content (decrypted)."""

    summary: ReportSummary
    content: Content

    @property
    def report_id(self) -> str:
        return self.summary.report_id

    @property
    def received_day(self) -> dt.date:
        return self.summary.received_day

    def answer(self, question_id: str) -> dict[str, Any] | None:
        answer = self.content.answers.get(question_id)
        return None if answer is None or answer.get("skipped") else answer


@dataclass(frozen=True)
class Question:
    """A reviewers' question for the witness: the day it was left, and its text if readable."""

    day: dt.date
    text: str | None  # None: sealed to the witness's key only


def content_from_documents(
    item_count: int,
    document: dict[str, Any],
    additions: list[dict[str, Any]],
    phashes: dict[int, str] | None = None,
    *,
    addition_items: Sequence[int] = (),
    questions: Sequence[Question] = (),
    sniffed: dict[int, str] | None = None,
) -> Content:
    """The monitoring view of a decrypted answers document and its additions.

    `addition_items` are the additions' item numbers (seq), in the same order as `additions`;
    `questions` are the reviewers' questions left for the witness.
    """
    answers: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    raw_answers = document.get("answers")
    for entry in raw_answers if isinstance(raw_answers, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("question"), str):
            continue
        if entry.get("type") == "consent":
            continue
        kept: dict[str, Any] = {k: v for k, v in entry.items()
                if k in _ANSWER_KEYS and isinstance(v, _ANSWER_KEYS[k])
                and not (isinstance(v, bool) and _ANSWER_KEYS[k] is not bool)}
        if "choices" in kept:
            choices: list[object] = kept["choices"]
            kept["choices"] = [c for c in choices if isinstance(c, str)]
        answers[entry["question"]] = kept
        order.append(entry["question"])
    attachments = [
        *_attachments(document.get("attachments"), "item", phashes, sniffed),
        *(a for added in additions
          for a in _attachments(added.get("attachments"), "seq", phashes, sniffed)),
    ]
    texts = tuple(
        t for added in additions if isinstance(added.get("texts"), list)
        for t in added["texts"] if isinstance(t, str)
    )
    return Content(
        item_count=item_count, readable=True,
        language=_text(document.get("language")),
        submitted_at=_text(document.get("submitted_at")),
        answers=answers, order=tuple(order),
        attachments=tuple(sorted(attachments, key=lambda a: a.seq)),
        addition_texts=texts, images_hashed=phashes is not None,
        follow_up=follow_up_entries(additions, addition_items, questions),
    )


def follow_up_entries(
    additions: Sequence[dict[str, Any]], items: Sequence[int], questions: Sequence[Question],
) -> tuple[dict[str, Any], ...]:
    """Questions and additions as one conversation, each with its own item number and time."""
    added = []
    for index, document in enumerate(additions):
        texts = document.get("texts")
        files = document.get("attachments")
        added.append({
            "kind": "addition",
            "item": items[index] if index < len(items) else None,
            "submitted_at": _text(document.get("submitted_at")),
            "texts": [t for t in texts if isinstance(t, str)] if isinstance(texts, list) else [],
            "attachments": [
                {"item": a.seq, "sha256": a.sha256} for a in _attachments(files, "seq", None)
            ],
        })
    ordered = in_conversation_order(
        list(questions), added, lambda entry: day_sent(entry["submitted_at"])
    )
    return tuple(
        {"kind": "question", "day": e.day.isoformat(), "text": e.text}
        if isinstance(e, Question) else e
        for e in ordered
    )


def _attachments(
    entries: object, key: str, phashes: dict[int, str] | None,
    sniffed: dict[int, str] | None = None,
) -> list[AttachmentRecord]:
    if not isinstance(entries, list):
        return []
    found = []
    for entry in entries:
        # An addition's files were documented under "seq"; the bot writes "item" there too.
        seq = next((entry[k] for k in (key, "item") if isinstance(entry, dict)
                    and isinstance(entry.get(k), int)), None)
        if seq is None:
            continue
        size = entry.get("size")
        found.append(AttachmentRecord(
            seq=seq, kind=_text(entry.get("kind")) or "file", sha256=_text(entry.get("sha256")),
            size=size if isinstance(size, int) else None,
            mime_type=_text(entry.get("mime_type")),
            phash=(phashes or {}).get(seq), sniffed=(sniffed or {}).get(seq),
        ))
    return found


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# --- the questionnaire's shape -------------------------------------------------------------


@dataclass(frozen=True)
class QuestionShape:
    """One question as exports need it: id, type, a label, and its choices' ids and labels."""

    id: str
    type: str
    label: str
    choices: tuple[tuple[str, str], ...] = ()


def questionnaire_shape(path: Path, language: str = "en") -> list[QuestionShape]:
    """The questions of a questionnaire file (bot/questionnaire.toml's format), in order.

    Read here as plain TOML rather than through the bot's loader, which the review side must
    not import; the bot has already validated the file it runs with.
    """
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    default = str(raw.get("questionnaire", {}).get("default_language", "en"))
    shapes = []
    for question in raw.get("question", []):
        if question.get("type") == "consent":
            continue
        choices = tuple(
            (str(c["id"]), _label(c.get("text"), language, default, str(c["id"])))
            for c in question.get("choices", [])
        )
        shapes.append(QuestionShape(
            str(question["id"]), str(question.get("type", "text")),
            _label(question.get("label"), language, default, str(question["id"])), choices,
        ))
    return shapes


def _label(texts: object, language: str, default: str, fallback: str) -> str:
    if isinstance(texts, dict):
        value = texts.get(language) or texts.get(default)
        if isinstance(value, str) and value:
            return value
    return fallback


def merged_shape(known: list[QuestionShape], records: list[Record]) -> list[QuestionShape]:
    """The questionnaire's questions, then any question or choice only older reports carry.

    Columns stay stable: every question and choice of the questionnaire has its column even
    when no report used it, and what the documents add is appended in a fixed order.
    """
    shapes = {s.id: s for s in known}
    order = [s.id for s in known]
    extra_choices: dict[str, set[str]] = {}
    for record in records:
        for question_id in record.content.order:
            answer = record.content.answers[question_id]
            if question_id not in shapes:
                shapes[question_id] = QuestionShape(
                    question_id, str(answer.get("type", "text")), question_id
                )
                order.append(question_id)
            for choice in [answer.get("choice"), *answer.get("choices", [])]:
                if isinstance(choice, str):
                    extra_choices.setdefault(question_id, set()).add(choice)
    merged = []
    for question_id in order:
        shape = shapes[question_id]
        known_ids = {c for c, _ in shape.choices}
        added = sorted(extra_choices.get(question_id, set()) - known_ids)
        merged.append(QuestionShape(
            shape.id, shape.type, shape.label, shape.choices + tuple((c, c) for c in added)
        ))
    return merged
