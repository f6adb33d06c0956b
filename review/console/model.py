"""What the console's pages show of a decrypted report: plain values, escaped when rendered."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from review.answers import AnswerView
from review.console.media import Presentation
from storage import ReportSummary


@dataclass(frozen=True)
class CopyView:
    """A metadata-stripped working copy the bot made of an image, for sharing."""

    seq: int
    size: int
    intact: bool


@dataclass(frozen=True)
class AttachmentView:
    seq: int
    kind: str
    presentation: Presentation
    file_name: str | None
    size: int
    caption: str | None
    sha256: str | None
    intact: bool
    added_later: bool
    copies: tuple[CopyView, ...] = ()


@dataclass(frozen=True)
class AdditionView:
    """What the witness added later with their receipt code (its files are attachments)."""

    seq: int
    submitted_at: str | None
    texts: tuple[str, ...]
    intact: bool
    day: dt.date | None = None
    kind: Literal["addition"] = "addition"


@dataclass(frozen=True)
class QuestionView:
    """A question the reviewers left for the witness; shown above what the witness added."""

    day: dt.date
    text: str | None  # None: sealed to the witness's key only
    kind: Literal["question"] = "question"


@dataclass(frozen=True)
class ReportView:
    summary: ReportSummary
    submitted_at: str | None
    language: str | None
    answers: list[AnswerView]
    attachments: list[AttachmentView]
    additions: list[AdditionView]
    # The reviewers' questions and the witness's additions, in conversation order.
    follow_up: list[QuestionView | AdditionView]
    signature: str  # "valid", "invalid", or "not checked"
    all_intact: bool
    can_message_witness: bool


@dataclass(frozen=True)
class Preview:
    tag: str | None
    snippet: str | None
    readable: bool


@dataclass(frozen=True)
class NoteView:
    author: str
    created_on: str
    text: str | None  # None when the note is not sealed to this reviewer's key
