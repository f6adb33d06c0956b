"""Plain-text rendering of an opened report, for the terminal."""

from __future__ import annotations

import re
from typing import Any

from review.opened import OpenedReport

# C0 and C1 control characters other than newline and tab: a hostile answer, file name or
# caption must not be able to move the cursor, recolour or rewrite the reviewer's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render_report(report: OpenedReport) -> str:
    return terminal_safe(_render(report))


def _render(report: OpenedReport) -> str:
    document = report.document
    lines = [
        f"report {report.summary.report_id}  received {report.summary.received_day}  "
        f"status {report.summary.status}",
        f"custody signature and payload hashes: {'valid' if report.custody_valid else 'INVALID'}",
        f"submitted at {document.get('submitted_at')}  language {document.get('language')}",
        "",
    ]
    for answer in document.get("answers", []):
        if answer.get("type") == "consent":
            continue
        value = _answer_text(answer)
        lines.append(f"{answer.get('label')}: {value}")
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
    for addition in report.additions:
        lines += ["", f"added by the witness at {addition.get('submitted_at')}:"]
        lines += [f"  {text}" for text in addition.get("texts", [])]
    return "\n".join(lines)


def _answer_text(answer: dict[str, Any]) -> str:
    if answer.get("skipped"):
        return "(skipped)"
    if answer.get("type") == "date":
        if answer.get("unknown"):
            return "not known"
        return f"{answer.get('date')} {answer.get('time') or ''}".strip()
    if answer.get("type") == "media":
        files = f"{answer.get('files')} file(s)"
        # Words the witness typed at the files step (bot/core/document.py).
        return f"{files}; the witness's note: {answer['note']}" if answer.get("note") else files
    if answer.get("latitude") is not None:
        return f"location {answer['latitude']:.5f}, {answer['longitude']:.5f}"
    return str(answer.get("text"))
