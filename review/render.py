"""Plain-text rendering of an opened report: `intake review show` and a bundle's report.txt.

Everything a witness sent is hostile text. Within one line of ours a witness's words are
escaped (`witness_text`): a line feed becomes the two characters \\n, a control character
\\xNN, a backslash \\\\, so no answer, caption, file name or addition can start a line of its own
and pass for one of ours ("custody signature ... valid", a forged attachment). The exact words
are in the sealed answers (originals/00-answers.json in a bundle).
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from review.answers import Labels, answer_views
from review.opened import OpenedAttachment, OpenedReport
from review.tools import OpenedQuestion, in_conversation_order

# C0 and C1 control characters other than newline and tab: a hostile answer, file name or
# caption must not be able to move the cursor, recolour or rewrite the reviewer's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# In a witness's text also line feeds, tabs, Unicode line and paragraph separators, bidi marks,
# and the backslash itself, so the escaping can be read back unambiguously; and characters no
# font draws that can hide text from whoever reads report.txt: zero-width space, word joiner and
# invisible operators, byte order mark, Mongolian vowel separator, interlinear annotation and
# the tag characters (which spell ASCII invisibly). The joiners U+200C/U+200D stay: Persian
# writes them inside words, and emoji sequences need them.
_WITNESS = re.compile(
    r"[\\\x00-\x1f\x7f-\x9f\u061c\u180e\u200b\u200e\u200f\u2028\u2029\u202a-\u202e"
    r"\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# An extension worth keeping from a file name: a dot and a few letters or digits.
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}")
# The extension for a type, where Python's own table is silent or gives a rare one.
_TYPE_EXTENSIONS = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/heic": ".heic",
    "video/mp4": ".mp4", "video/quicktime": ".mov", "audio/ogg": ".ogg", "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a", "application/pdf": ".pdf", "text/plain": ".txt",
}
# Telegram sends these kinds without a file name, in one format each (Bot API "PhotoSize" is
# always JPEG, a voice message OGG/Opus, a video note MP4).
_KIND_EXTENSIONS = {"photo": ".jpg", "voice": ".ogg", "video_note": ".mp4"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def terminal_safe(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def witness_text(value: object) -> str:
    """A witness's value as part of one line: line feeds and control characters escaped."""
    return _WITNESS.sub(_escape, value if isinstance(value, str) else str(value))


def attachment_extension(facts: Mapping[str, Any]) -> str:
    """The attachment's extension: its file name's, else its type's, else its kind's; "" if
    none is known."""
    name = facts.get("file_name")
    if isinstance(name, str):
        suffix = PurePosixPath(name.replace("\\", "/")).suffix
        if _EXTENSION.fullmatch(suffix):
            return suffix.lower()
    mime = facts.get("mime_type")
    if isinstance(mime, str) and mime:
        found = _TYPE_EXTENSIONS.get(mime.lower()) or mimetypes.guess_extension(mime.lower())
        if found:
            return found
    kind = facts.get("kind")
    return _KIND_EXTENSIONS.get(kind, "") if isinstance(kind, str) else ""


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def attachment_file_name(seq: int, facts: Mapping[str, Any], fallback: str = "file") -> str:
    """NN-name.ext for a decrypted attachment written to disk: a safe form of the witness's
    file name (or the kind), always with the extension attachment_extension gives."""
    extension = attachment_extension(facts)
    name = facts.get("file_name")
    base = name if isinstance(name, str) and name else facts.get("kind") or fallback
    stem = str(base)
    if extension and stem.lower().endswith(extension):
        stem = stem[: -len(extension)]
    cleaned = _SAFE_NAME.sub("_", stem).strip("._")[:80] or fallback
    return f"{seq:02d}-{cleaned}{extension}"


def render_report(
    report: OpenedReport, labels: Labels | None = None, questions: Sequence[OpenedQuestion] = ()
) -> str:
    """The report as `intake review show` prints it, labels in the reviewer's language, with
    the reviewers' questions above what the witness added after them."""
    return terminal_safe(_render(report, labels or Labels(), questions))


def language_lines(document: dict[str, Any], labels: Labels) -> list[str]:
    """Which language the witness wrote in (their own words are shown as they wrote them)."""
    language = labels.language_name(document.get("language"))
    return [] if language is None else [f"Witness's language: {witness_text(language)}"]


def answer_lines(document: dict[str, Any], labels: Labels) -> list[str]:
    """One "Label: value" line per answer, labels in the reviewer's language (export too)."""
    return [f"{witness_text(view.label)}: {witness_text(view.value)}" for view in answer_views(
        document.get("answers", []), labels
    )]


def attachment_lines(attachments: Sequence[OpenedAttachment]) -> list[str]:
    """Every attachment with its kind, type and extension, size, hash and whether it is intact;
    the section is there even when empty, since an answer may say "listed under Attachments"."""
    lines = ["Attachments:"]
    if not attachments:
        lines.append("  none")
    for attachment in attachments:
        facts = attachment.facts
        state = "intact" if attachment.intact else "HASH MISMATCH"
        extension = attachment_extension(facts) or "(none known)"
        name = facts.get("file_name")
        lines.append(
            f"  attachment {attachment.seq}: {witness_text(facts.get('kind') or 'file')}, "
            f"type {witness_text(facts.get('mime_type') or 'not stated')}, "
            f"extension {witness_text(extension)}, "
            f"file name {witness_text(name) if name else '(none sent)'}, "
            f"{len(attachment.data)} bytes, sha256 {witness_text(facts.get('sha256'))} ({state})"
        )
        if facts.get("caption"):
            lines.append(f"    caption: {witness_text(facts['caption'])}")
    return lines


def sent_at(addition: Mapping[str, Any]) -> dt.datetime | None:
    """When an addition was sent (its `submitted_at`, as UTC); None if unreadable."""
    value = addition.get("submitted_at")
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def by_time(additions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Additions in the order they were sent, whatever order the store holds them in; those
    whose time cannot be read come last, in their stored order."""
    latest = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(additions, key=lambda a: (sent_at(a) is None, sent_at(a) or latest))


def conversation_lines(
    additions: Sequence[dict[str, Any]], questions: Sequence[OpenedQuestion]
) -> list[str]:
    """The reviewers' questions and the witness's additions, in time order."""
    lines: list[str] = []
    ordered = by_time(additions)
    for entry in in_conversation_order(questions, ordered, _day):
        if isinstance(entry, OpenedQuestion):
            text = (witness_text(entry.text) if entry.text is not None
                    else "(sealed to the witness's key only)")
            lines += ["", f"question from the reviewers on {entry.day}:", f"  {text}"]
            continue
        lines += ["", f"added by the witness at {witness_text(entry.get('submitted_at'))}:"]
        texts = entry.get("texts", [])
        lines += [f"  {witness_text(text)}" for text in (texts if isinstance(texts, list) else [])]
    return lines


def _day(addition: dict[str, Any]) -> dt.date | None:
    moment = sent_at(addition)
    return None if moment is None else moment.date()


def report_lines(
    report: OpenedReport, labels: Labels, questions: Sequence[OpenedQuestion] = ()
) -> list[str]:
    """The lines both `review show` and report.txt print after their own first line."""
    document = report.document
    return [
        f"custody signature and payload hashes: {'valid' if report.custody_valid else 'INVALID'}",
        f"submitted at {witness_text(document.get('submitted_at'))}",
        *language_lines(document, labels),
        "",
        *answer_lines(document, labels),
        "",
        *attachment_lines(report.attachments),
        *conversation_lines(report.additions, questions),
    ]


def _render(report: OpenedReport, labels: Labels, questions: Sequence[OpenedQuestion]) -> str:
    summary = report.summary
    return "\n".join([
        f"report {summary.report_id}  received {summary.received_day}  status {summary.status}",
        *report_lines(report, labels, questions),
    ])
