"""Plain-text rendering of an opened report, for the terminal."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from review.answers import Labels, answer_views
from review.opened import OpenedReport
from review.tools import OpenedQuestion, day_sent, in_conversation_order

# C0 and C1 control characters other than newline and tab: a hostile answer, file name or
# caption must not be able to move the cursor, recolour or rewrite the reviewer's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render_report(
    report: OpenedReport, labels: Labels | None = None, questions: Sequence[OpenedQuestion] = ()
) -> str:
    """The report as `intake review show` prints it, labels in the reviewer's language, with
    the reviewers' questions above what the witness added after them."""
    return terminal_safe(_render(report, labels or Labels(), questions))


def language_lines(document: dict[str, Any], labels: Labels) -> list[str]:
    """Which language the witness wrote in (their own words are shown as they wrote them)."""
    language = labels.language_name(document.get("language"))
    return [] if language is None else [f"Witness's language: {language}"]


def answer_lines(document: dict[str, Any], labels: Labels) -> list[str]:
    """One "Label: value" line per answer, labels in the reviewer's language (export too)."""
    return [f"{view.label}: {view.value}" for view in answer_views(
        document.get("answers", []), labels
    )]


def _render(report: OpenedReport, labels: Labels, questions: Sequence[OpenedQuestion]) -> str:
    document = report.document
    lines = [
        f"report {report.summary.report_id}  received {report.summary.received_day}  "
        f"status {report.summary.status}",
        f"custody signature and payload hashes: {'valid' if report.custody_valid else 'INVALID'}",
        f"submitted at {document.get('submitted_at')}",
        *language_lines(document, labels),
        "",
        *answer_lines(document, labels),
    ]
    for attachment in report.attachments:
        facts = attachment.facts
        state = "intact" if attachment.intact else "HASH MISMATCH"
        lines.append(
            f"attachment {attachment.seq}: {facts.get('kind')} {facts.get('file_name') or ''} "
            f"{facts.get('mime_type') or ''} {facts.get('size')} bytes sha256 "
            f"{facts.get('sha256')} ({state})"
        )
        if facts.get("caption"):
            lines.append(f"  caption: {facts['caption']}")
    for entry in in_conversation_order(
        questions, report.additions, lambda a: day_sent(a.get("submitted_at"))
    ):
        if isinstance(entry, OpenedQuestion):
            text = entry.text if entry.text is not None else "(sealed to the witness's key only)"
            lines += ["", f"question from the reviewers on {entry.day}:", f"  {text}"]
            continue
        lines += ["", f"added by the witness at {entry.get('submitted_at')}:"]
        lines += [f"  {text}" for text in entry.get("texts", [])]
    return "\n".join(lines)
