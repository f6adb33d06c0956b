"""Uwazi's CSV import package, part 2: one row per report, the files, and the zip.

How each cell is written follows what Uwazi's importer does with it (see uwazi.py):

- **One line where one line serves.** A text property is shown on one line by Uwazi, so a
  witness's line breaks become ` ¶ ` there; only markdown properties hold several lines.
- **Markdown is escaped.** Uwazi renders markdown properties with markdown-it, raw HTML on, and
  expands `{media}(...)`-style components: every ASCII punctuation mark of witness text is
  backslash-escaped (CommonMark), so it shows as typed and nothing in it runs or embeds. A
  line break is kept as a markdown hard break (`\\` at the end of the line), since markdown
  would otherwise join the lines.
- **ISO dates**, `lat|lon` locations, `Group::Value` for grouped thesauri, values joined with
  `|`, the report's public id in its own property, never Uwazi's `id`.
- **The header in the first 16 KiB.** Uwazi reads the header with csvtojson from the file's
  first chunk (16 KiB out of the zip) and stops: a quoted cell cut at that point is an
  unclosed quote and the import fails. When the 16 KiB boundary would fall inside a quoted
  cell, spaces are added after the last cell of the row before (the report id, never quoted;
  csvtojson trims them), so that row ends exactly at the boundary.
- **Files Uwazi shows, as working copies.** Images, audio, video and PDF go in, typed from
  their bytes; an image goes in as its metadata-free working copy (made by the bot), unless
  the reviewer asks for originals. Anything else (or an image without a working copy) is
  listed by name, type and SHA-256 in the hashes property, and not attached.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from review.monitoring.cells import Verbatim, csv_text
from review.monitoring.collect import sniff_type
from review.monitoring.records import Content, Question, content_from_documents
from review.monitoring.tables import one_line
from review.monitoring.uwazi import Mapping, PropertyMap
from review.opened import OpenedReport

HEADER_CHUNK = 16 * 1024  # what Uwazi's header peek reads (zlib's output chunk, 16 KiB)
# What Uwazi shows of an attachment, by the type the bytes show; the extension it gets here.
SHOWN = {
    "image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
    "audio/mpeg": "mp3", "audio/ogg": "ogg", "audio/x-wav": "wav", "audio/mp4": "m4a",
    "audio/x-flac": "flac", "audio/aac": "aac", "video/mp4": "mp4", "video/webm": "webm",
    "video/quicktime": "mov", "application/pdf": "pdf",
}
_PLAIN_NUMBER = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?")
_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


@dataclass(frozen=True)
class Source:
    """What one entity is made of, decrypted on the reviewer's machine."""

    report: OpenedReport
    manifest: bytes
    working_copies: dict[int, bytes] = field(default_factory=dict)  # by the original's seq
    addition_items: tuple[int, ...] = ()
    questions: tuple[Question, ...] = ()


@dataclass(frozen=True)
class Entity:
    report_id: str
    row: dict[str, str]
    files: dict[str, bytes]  # file name in the zip -> bytes
    fingerprint: str  # what the row and files say; a later export leaves it out if unchanged


def escape_markdown(text: str) -> str:
    """Witness text as markdown that renders as the same text: punctuation escaped, each line
    break a hard break, blank lines kept as paragraph breaks."""
    lines = [_ASCII_PUNCTUATION.sub(r"\\\1", line.strip()) for line in text.splitlines()]
    out = ""
    for index, line in enumerate(lines):
        if index:
            out += "\n" if not line or not lines[index - 1] else "\\\n"
        out += line
    return out


def _date(value: object) -> str:
    """ISO 8601, which Uwazi reads right whatever the collection's format (typeParsers.ts)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            return ""
    return ""


def _follow_up(content: Content) -> str:
    paragraphs = []
    for entry in content.follow_up:
        if entry.get("kind") == "question":
            text = entry.get("text")
            said = escape_markdown(text) if isinstance(text, str) else (
                "\\(sealed to the witness's key only\\)")
            paragraphs.append(f"**Question from the reviewers, {entry.get('day')}:** {said}")
        else:
            moment = escape_markdown(str(entry.get("submitted_at") or "time unknown"))
            said = "\\\n".join(escape_markdown(t) for t in entry.get("texts", []))
            files = ", ".join(f"item {f['item']}" for f in entry.get("attachments", []))
            extra = f" \\(files: {files}\\)" if files else ""
            paragraphs.append(
                f"**The witness added \\(item {entry.get('item')}, {moment}\\):** {said}{extra}")
    return "\n\n".join(paragraphs)


def _decimal(number: float) -> str:
    """The number as written, without an exponent (str(0.00001) is 1e-05)."""
    return format(Decimal(repr(number)), "f")


def _place(prop: PropertyMap, answer: dict[str, Any]) -> str:
    part = prop.part or ("location" if prop.type == "geolocation" else "text")
    lat, lon = answer.get("latitude"), answer.get("longitude")
    located = isinstance(lat, int | float) and isinstance(lon, int | float)
    if part == "location":
        if not (isinstance(lat, int | float) and isinstance(lon, int | float)):
            return ""
        return Verbatim(f"{_decimal(lat)}|{_decimal(lon)}")
    if part == "approximate":
        if not located:
            return ""
        key = "approximate" if answer.get("approximate") else "exact"
        return prop.values.get(key, key)
    text = answer.get("text")
    if isinstance(text, str) and text:
        return one_line(text)
    return f"{lat:.5f}, {lon:.5f}" if located else ""


def _cell(prop: PropertyMap, source: Source, content: Content, mapping: Mapping) -> str:
    summary = source.report.summary
    if prop.field is not None:
        if prop.field == "follow_up":
            return _follow_up(content)
        if prop.field == "evidence_link":
            link = (mapping.evidence_link or "").format(
                report_id=summary.report_id,
                manifest_sha256=hashlib.sha256(source.manifest).hexdigest())
            return f"Evidence bundle {summary.report_id[:8]}|{link}"
        value: Any = {
            "report_id": summary.report_id, "received_day": summary.received_day,
            "status": summary.status, "priority": summary.priority,
            "labels": list(summary.labels), "language": content.language,
        }[prop.field]
        if prop.type == "date":
            return _date(value)
        if isinstance(value, list):
            joined = [prop.values.get(str(v), str(v)) for v in value]
            return "|".join(joined) if prop.type == "multiselect" else ", ".join(joined)
        return "" if value is None else prop.values.get(str(value), str(value))
    answer = content.answers.get(prop.question or "")
    if answer is None or answer.get("skipped"):
        return ""
    if prop.type == "date":
        return _date(answer.get("date"))
    if prop.part is not None or prop.type == "geolocation" or "latitude" in answer:
        return _place(prop, answer)
    if prop.type == "numeric":
        number = answer.get("files", answer.get("text"))
        if isinstance(number, int):
            return Verbatim(str(number))
        # Uwazi keeps a cell Number() cannot read as text, refuses the entity ("should be
        # number", metadataValidators.js) and stops the whole import at that row (CSVLoader's
        # stopOnError): only a plain number a witness typed goes in, as a number.
        typed = str(number or "").strip()
        return Verbatim(typed) if _PLAIN_NUMBER.fullmatch(typed) else ""
    choices = [answer["choice"]] if "choice" in answer else answer.get("choices")
    if choices is not None:
        labels = [prop.values.get(c, c) for c in choices]
        if prop.type in ("select", "multiselect"):
            return "|".join(labels)
        return ", ".join(labels) if prop.values else one_line(str(answer.get("text") or ""))
    if prop.type in ("select", "multiselect"):
        return ""
    if "date" in answer:
        return " ".join(p for p in (_date(answer.get("date")), answer.get("time")) if p)
    text = str(answer.get("text") or "")
    return escape_markdown(text) if prop.type == "markdown" else one_line(text)


def _title(source: Source, content: Content, mapping: Mapping) -> str:
    summary = source.report.summary
    values: dict[str, str] = {
        "report_id": summary.report_id, "short_id": summary.report_id[:8],
        "received_day": _date(summary.received_day),
    }
    by_question = {
        p.question: p for p in mapping.properties
        if p.question and p.type in ("select", "multiselect", "text") and p.part is None
    }
    for question_id, answer in content.answers.items():
        if "latitude" in answer and not answer.get("text"):
            # A title is shown everywhere: a shared location only to about a kilometre.
            values[question_id] = f"{answer['latitude']:.2f}, {answer['longitude']:.2f}"
            continue
        prop = by_question.get(question_id) or PropertyMap(question_id, "text", question_id)
        values[question_id] = _cell(prop, source, content, mapping).replace("|", ", ")

    def fill(match: re.Match[str]) -> str:
        return values.get(match.group(1), "")

    title = " ".join(re.sub(r"\{([a-z0-9_]+)\}", fill, mapping.title).split())
    # Empty answers leave separators behind ("Detention ·  · 2026-05-31"); drop doubles.
    title = re.sub(r"\s*·(\s*·)+\s*", " · ", title).strip(" ·")
    return title or f"Report {summary.report_id[:8]}"


def entity(source: Source, mapping: Mapping, *, originals: bool = False) -> Entity:
    """One report as a row of import.csv and the files it names."""
    report = source.report
    content = content_from_documents(
        0, report.document, list(report.additions),
        addition_items=source.addition_items, questions=source.questions)
    rid = report.summary.report_id
    files: dict[str, bytes] = {}
    listed: list[str] = []
    for attachment in report.attachments if mapping.attachments else ():
        original = attachment.data
        copy = source.working_copies.get(attachment.seq)
        data = original if originals or copy is None else copy
        kind = sniff_type(data) or "unknown type"
        digest = hashlib.sha256(original).hexdigest()
        if kind.startswith("image/") and data is original and not originals:
            listed.append(f"item {attachment.seq} ({kind}, no working copy): {digest}")
        elif kind in SHOWN:
            name = f"{rid}-{attachment.seq:02d}.{SHOWN[kind]}"
            files[name] = data
            what = "original" if data is original else f"working copy of {digest}"
            listed.append(f"{name} ({what}): {hashlib.sha256(data).hexdigest()}")
        else:
            listed.append(f"item {attachment.seq} ({kind}, not shown by Uwazi): {digest}")
    row = {"title": one_line(_title(source, content, mapping))}
    for prop in mapping.properties:
        row[prop.name] = _cell(prop, source, content, mapping)
    if mapping.hashes_property:
        row[mapping.hashes_property] = "\\\n".join(escape_markdown(line) for line in listed)
    if mapping.attachments:
        row["attachments"] = "|".join(files)
    fingerprint = hashlib.sha256(repr(sorted(row.items())).encode()).hexdigest()
    return Entity(rid, row, files, fingerprint)


def _quoted_spans(line: str) -> list[tuple[int, int]]:
    """Character ranges of the quoted cells of one CSV row (as Python's csv quotes them)."""
    spans, start, inside = [], 0, False
    for index, char in enumerate(line):
        if char == '"':
            if not inside:
                start, inside = index, True
            elif index + 1 < len(line) and line[index + 1] == '"':
                continue
            else:
                inside = False
                spans.append((start, index))
    return spans


def _pad_for_header_peek(rows: list[str]) -> list[str]:
    """Spaces after the last cell of a row, so that no quoted cell spans byte 16384."""
    offset = 0
    for index, row in enumerate(rows):
        size = len(row.encode("utf-8"))
        if offset + size > HEADER_CHUNK and index > 0:
            cut = len(row.encode("utf-8")[:HEADER_CHUNK - offset].decode("utf-8", "ignore"))
            if any(start < cut <= end for start, end in _quoted_spans(row)):
                before = rows[index - 1]
                rows[index - 1] = before[:-2] + " " * (HEADER_CHUNK - offset) + before[-2:]
            break
        offset += size
    return rows


def import_csv(entities: Sequence[Entity], mapping: Mapping) -> bytes:
    """UTF-8 (no byte-order mark: Uwazi is the reader), CRLF, formulas neutralised (cells.py)."""
    names = mapping.columns()
    table = [names, *([item.row.get(k, "") for k in names] for item in entities)]
    rows = [csv_text([cells], bom=False) for cells in table]
    return "".join(_pad_for_header_peek(rows)).encode("utf-8")


def package(entities: Sequence[Entity], mapping: Mapping) -> bytes:
    """The zip: import.csv (UTF-8, comma-separated, a header row) and every file at the root."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("import.csv", import_csv(entities, mapping))
        for item in entities:
            for name, data in item.files.items():
                archive.writestr(name, data)
    return out.getvalue()
