"""The sealed report document: what a reviewer reads after decrypting the answers item.

Everything that must not be stored in clear (answers, category, language, exact time, file names,
MIME types, plaintext hashes) lives here, inside the age-encrypted answers item.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.draft import (
    Answer,
    ChoiceAnswer,
    DateAnswer,
    MediaAnswer,
    MultiChoiceAnswer,
    PlaceAnswer,
    Skipped,
    TextAnswer,
)
from bot.core.questionnaire import Question, Questionnaire, QuestionType

FORMAT = "incident-intake/report/v1"
ADDITION_FORMAT = "incident-intake/addition/v1"


@dataclass(frozen=True)
class AttachmentFacts:
    """What the server learnt about one attachment while sealing it (sealed, never in clear)."""

    seq: int
    kind: str
    file_name: str | None
    mime_type: str | None
    size: int
    sha256: str
    caption: str | None = None
    # The processing record of its working copy (bot/working_copy.py), if it got one.
    processing: dict[str, Any] | None = None


def report_document(
    *,
    report_id: str,
    questionnaire: Questionnaire,
    language: str,
    answers: list[tuple[Question, Answer]],
    attachments: list[AttachmentFacts],
    submitted_at: dt.datetime,
    software: Mapping[str, str] | None = None,
    channel: str = "default",
) -> bytes:
    document: dict[str, Any] = {
        "format": FORMAT,
        "report_id": report_id,
        # Also in clear on the report's row (to route it); here it is signed into the content.
        "channel": channel,
        "questionnaire": {
            "id": questionnaire.id, "version": questionnaire.version,
            "sha256": questionnaire.sha256,
        },
        "language": language,
        "submitted_at": submitted_at.isoformat(timespec="seconds"),
        "answers": [_answer(question, answer, language) for question, answer in answers],
        "attachments": attachment_entries(attachments),
        "collection": collection_facts(answers, language, software),
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def collection_facts(
    answers: list[tuple[Question, Answer]], language: str, software: Mapping[str, str] | None
) -> dict[str, Any]:
    """What the collection report of an export needs and only intake knows (issue 10, item 4):
    the software that took the report, and the exact words of each consent the witness gave,
    in the language they read them in."""
    return {
        "software": dict(software) if software else None,
        "consents": [
            {
                "question": question.id,
                "text": question.text.get(language),
                "answer": answer.choice_id,
            }
            for question, answer in answers
            if question.type is QuestionType.CONSENT and isinstance(answer, ChoiceAnswer)
        ],
    }


def addition_document(
    *, report_id: str, texts: list[str], attachments: list[AttachmentFacts],
    submitted_at: dt.datetime,
) -> bytes:
    """What a witness added later with their receipt code (sealed as an `addition` item)."""
    document: dict[str, Any] = {
        "format": ADDITION_FORMAT,
        "report_id": report_id,
        "submitted_at": submitted_at.isoformat(timespec="seconds"),
        "texts": texts,
        "attachments": attachment_entries(attachments),
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def attachment_entries(attachments: list[AttachmentFacts]) -> list[dict[str, Any]]:
    """How each attachment is described to the reviewer; `item` is its sequence number."""
    return [
        {
            "item": a.seq,
            "kind": a.kind,
            "file_name": a.file_name,
            "mime_type": a.mime_type,
            "size": a.size,
            "sha256": a.sha256,
            "caption": a.caption,
            **({} if a.processing is None else {"processing": a.processing}),
        }
        for a in attachments
    ]


def _answer(question: Question, answer: Answer, language: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "question": question.id,
        "type": question.type.value,
        "label": question.label.get(language),
    }
    if isinstance(answer, Skipped):
        entry["skipped"] = True
    elif isinstance(answer, ChoiceAnswer):
        choice = question.choice(answer.choice_id)
        entry["choice"] = answer.choice_id
        entry["text"] = choice.text.get(language) if choice else answer.choice_id
    elif isinstance(answer, MultiChoiceAnswer):
        entry["choices"] = list(answer.choice_ids)
        entry["text"] = ", ".join(
            c.text.get(language) for c in map(question.choice, answer.choice_ids) if c
        )
    elif isinstance(answer, TextAnswer):
        entry["text"] = answer.text
    elif isinstance(answer, DateAnswer):
        entry["date"] = answer.day.isoformat() if answer.day else None
        entry["time"] = answer.time.isoformat(timespec="minutes") if answer.time else None
        entry["unknown"] = answer.day is None
    elif isinstance(answer, PlaceAnswer):
        entry["text"] = answer.text
        entry["latitude"] = answer.latitude
        entry["longitude"] = answer.longitude
        entry["approximate"] = answer.approximate
    elif isinstance(answer, MediaAnswer):
        entry["files"] = len(answer.files)
        # Words typed at the files step, kept with them (docs/conversation.md section 2).
        entry["note"] = answer.note
    return entry
