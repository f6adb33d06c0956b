"""Plain-text rendering of an opened report, for the terminal."""

from __future__ import annotations

from typing import Any

from review.queue import OpenedReport


def render_report(report: OpenedReport) -> str:
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
    return "\n".join(lines)


def _answer_text(answer: dict[str, Any]) -> str:
    if answer.get("skipped"):
        return "(skipped)"
    if answer.get("type") == "date":
        if answer.get("unknown"):
            return "not known"
        return f"{answer.get('date')} {answer.get('time') or ''}".strip()
    if answer.get("type") == "media":
        return f"{answer.get('files')} file(s)"
    if answer.get("latitude") is not None:
        return f"location {answer['latitude']:.5f}, {answer['longitude']:.5f}"
    return str(answer.get("text"))
