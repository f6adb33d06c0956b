"""Uwazi's CSV import package: `import.csv` and the files it names, in one zip.

Uwazi (HURIDOCS) imports entities from a zip holding `import.csv` at its root and the files
the rows name beside it (docs: "CSV import" in Uwazi's documentation). Each column header is a
property name of the template chosen at upload, or one of the reserved columns (`title`,
`attachments`, ...); several values in a cell are joined with `|`; a geolocation is `lat|lon`;
a date is written in the collection's date format; a select holds the thesaurus value's label.

A mapping file (TOML or JSON; docs/monitoring.md describes it, docs/examples/ has one for an
events template) says which question fills which property, and which thesaurus value each
choice becomes. Every entity also carries its evidence: the decrypted original attachments,
the custody manifest and its signature as attachments, and the SHA-256 of each of those files
in a text property, so the chain from the sealed report to the Uwazi entity can be checked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import re
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from review.console.media import present
from review.monitoring.cells import Verbatim, csv_text
from review.monitoring.records import Content, QuestionShape, content_from_documents
from review.opened import OpenedReport

RESERVED = ("title", "attachments")
PROPERTY_TYPES = ("text", "markdown", "select", "multiselect", "date", "geolocation", "numeric")
FIELDS = ("report_id", "received_day", "status", "priority", "labels", "language")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_DATE_TOKENS = {"YYYY": "%Y", "MM": "%m", "DD": "%d"}
_DATE_FORMAT = re.compile(r"(YYYY|MM|DD)([/.-])(YYYY|MM|DD)\2(YYYY|MM|DD)")


class MappingError(Exception):
    """The mapping file is not usable; the message names the property and the fix."""


@dataclass(frozen=True)
class PropertyMap:
    name: str  # the Uwazi property's name (lowercase, underscores), the CSV column
    type: str
    question: str | None = None
    field: str | None = None  # one of FIELDS instead of a question
    values: dict[str, str] = dataclasses.field(default_factory=dict)  # choice id -> thesaurus label


@dataclass(frozen=True)
class Mapping:
    date_format: str  # Uwazi's notation, e.g. YYYY/MM/DD
    title: str  # a pattern: {report_id}, {short_id}, {received_day}, {<question id>}
    properties: tuple[PropertyMap, ...]
    hashes_property: str | None = "evidence_sha256"
    custody: bool = True
    attachments: bool = True

    @property
    def strftime(self) -> str:
        match = _DATE_FORMAT.fullmatch(self.date_format)
        assert match is not None
        separator = match.group(2)
        return separator.join(_DATE_TOKENS[match.group(i)] for i in (1, 3, 4))

    def columns(self) -> list[str]:
        names = ["title", *(p.name for p in self.properties)]
        if self.hashes_property:
            names.append(self.hashes_property)
        if self.attachments or self.custody:
            names.append("attachments")
        return names


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file (.toml or .json)."""
    try:
        raw_text = path.read_bytes()
        raw: dict[str, Any] = (
            json.loads(raw_text) if path.suffix.lower() == ".json" else tomllib.loads(
                raw_text.decode("utf-8"))
        )
    except OSError as error:
        raise MappingError(f"cannot read the mapping {path}: {error.strerror}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise MappingError(f"the mapping {path} is not valid TOML or JSON: {error}") from None
    return parse_mapping(raw)


def parse_mapping(raw: dict[str, Any]) -> Mapping:
    collection = raw.get("collection", {})
    date_format = str(collection.get("date_format", "YYYY/MM/DD"))
    parts = _DATE_FORMAT.fullmatch(date_format)
    if parts is None or {parts.group(1), parts.group(3), parts.group(4)} != set(_DATE_TOKENS):
        raise MappingError(
            f"collection.date_format {date_format!r} is not a date format like YYYY/MM/DD or "
            "DD/MM/YYYY: copy it from the collection's settings in Uwazi"
        )
    properties = []
    for index, entry in enumerate(raw.get("properties", [])):
        name = str(entry.get("name", ""))
        where = f"properties[{index}] ({name or 'no name'})"
        if not _NAME.fullmatch(name) or name in RESERVED:
            raise MappingError(f"{where}: name is the Uwazi property's name, lowercase with "
                               "underscores (see /api/templates), and not title or attachments")
        kind = str(entry.get("type", ""))
        if kind not in PROPERTY_TYPES:
            raise MappingError(f"{where}: type is one of {', '.join(PROPERTY_TYPES)}")
        question, source = entry.get("question"), entry.get("field")
        if (question is None) == (source is None):
            raise MappingError(f"{where}: give either question = \"<question id>\" or field = "
                               f"one of {', '.join(FIELDS)}")
        if source is not None and source not in FIELDS:
            raise MappingError(f"{where}: field is one of {', '.join(FIELDS)}")
        values = entry.get("values", {})
        if not isinstance(values, dict) or not all(
            isinstance(v, str) and v and "|" not in v for v in values.values()
        ):
            raise MappingError(f"{where}: values maps choice ids to thesaurus labels "
                               "(text without |)")
        properties.append(PropertyMap(name, kind, question, source, dict(values)))
    names = [p.name for p in properties]
    if len(set(names)) != len(names):
        raise MappingError("two properties have the same name: each column appears once")
    title = raw.get("title", {}).get("pattern", "Report {short_id} ({received_day})")
    files = raw.get("files", {})
    hashes = files.get("hashes_property", "evidence_sha256")
    if hashes is False:  # TOML has no null: `false` leaves the hashes out
        hashes = None
    if hashes is not None and (not _NAME.fullmatch(str(hashes)) or hashes in names):
        raise MappingError("files.hashes_property is a text property's name, not used above")
    return Mapping(date_format, str(title), tuple(properties), hashes,
                   bool(files.get("custody", True)), bool(files.get("attachments", True)))


def check_against(mapping: Mapping, shape: Sequence[QuestionShape]) -> None:
    """Every question the mapping names exists, and every choice of a select has a value."""
    questions = {q.id: q for q in shape}
    for prop in mapping.properties:
        if prop.question is None:
            continue
        question = questions.get(prop.question)
        if question is None:
            raise MappingError(f"property {prop.name}: the questionnaire has no question "
                               f"{prop.question!r}")
        if prop.type in ("select", "multiselect") and question.choices:
            missing = [c for c, _ in question.choices if c not in prop.values]
            if missing:
                raise MappingError(f"property {prop.name}: add values for the choices "
                                   f"{', '.join(missing)} of question {prop.question}")


# --- rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entity:
    row: dict[str, str]
    files: dict[str, bytes]  # file name in the zip -> bytes


def _date(value: object, mapping: Mapping) -> str:
    if isinstance(value, dt.date):
        return value.strftime(mapping.strftime)
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).strftime(mapping.strftime)
        except ValueError:
            return ""
    return ""


def _cell(prop: PropertyMap, report: OpenedReport, content: Content, mapping: Mapping) -> str:
    summary = report.summary
    if prop.field is not None:
        value: Any = {
            "report_id": summary.report_id, "received_day": summary.received_day,
            "status": summary.status, "priority": summary.priority,
            "labels": list(summary.labels), "language": content.language,
        }[prop.field]
        if prop.type == "date":
            return _date(value, mapping)
        if isinstance(value, list):
            joined = [prop.values.get(str(v), str(v)) for v in value]
            return "|".join(joined) if prop.type == "multiselect" else ", ".join(joined)
        return "" if value is None else prop.values.get(str(value), str(value))
    answer = content.answers.get(prop.question or "")
    if answer is None or answer.get("skipped"):
        return ""
    if prop.type == "date":
        return _date(answer.get("date"), mapping)
    if prop.type == "geolocation":
        lat, lon = answer.get("latitude"), answer.get("longitude")
        return Verbatim(f"{lat}|{lon}") if lat is not None and lon is not None else ""
    if prop.type == "numeric":
        number = answer.get("files", answer.get("text"))
        return "" if number is None else str(number)
    choices = [answer["choice"]] if "choice" in answer else answer.get("choices")
    if choices is not None:
        labels = [prop.values.get(c, c) for c in choices]
        if prop.type in ("select", "multiselect"):
            return "|".join(labels)
        return ", ".join(labels) if prop.values else str(answer.get("text", ", ".join(labels)))
    if prop.type in ("select", "multiselect"):
        return ""
    if "latitude" in answer and answer.get("text") is None:
        return f"{answer.get('latitude')}, {answer.get('longitude')}"
    if "date" in answer:
        return " ".join(p for p in (_date(answer.get("date"), mapping), answer.get("time")) if p)
    return str(answer.get("text") or "")


def _title(report: OpenedReport, content: Content, mapping: Mapping) -> str:
    summary = report.summary
    values: dict[str, str] = {
        "report_id": summary.report_id, "short_id": summary.report_id[:8],
        "received_day": _date(summary.received_day, mapping),
    }
    by_question = {
        p.question: p for p in mapping.properties
        if p.question and p.type not in ("geolocation", "markdown")
    }
    for question_id, answer in content.answers.items():
        if "latitude" in answer and not answer.get("text"):
            # A title is shown everywhere: a shared location only to about a kilometre.
            values[question_id] = f"{answer['latitude']:.2f}, {answer['longitude']:.2f}"
            continue
        prop = by_question.get(question_id) or PropertyMap(question_id, "text", question_id)
        values[question_id] = _cell(prop, report, content, mapping).replace("|", ", ")

    def fill(match: re.Match[str]) -> str:
        return values.get(match.group(1), "")

    title = " ".join(re.sub(r"\{([a-z0-9_]+)\}", fill, mapping.title).split())
    # Empty answers leave separators behind ("Detention ·  · 2026/05/31"); drop doubles.
    title = re.sub(r"\s*·(\s*·)+\s*", " · ", title).strip(" ·")
    return title or f"Report {summary.report_id[:8]}"


def entity(report: OpenedReport, manifest: bytes, signature: bytes, mapping: Mapping) -> Entity:
    """One report as a row of import.csv and the files it names."""
    content = content_from_documents(0, report.document, list(report.additions))
    rid = report.summary.report_id
    files: dict[str, bytes] = {}
    if mapping.attachments:
        for attachment in report.attachments:
            extension = present(attachment.facts).extension
            files[f"{rid}-{attachment.seq:02d}.{extension}"] = attachment.data
    if mapping.custody:
        files[f"{rid}-manifest.json"] = manifest
        files[f"{rid}-manifest.sig"] = signature
    row = {"title": _title(report, content, mapping)}
    for prop in mapping.properties:
        row[prop.name] = _cell(prop, report, content, mapping)
    if mapping.hashes_property:
        row[mapping.hashes_property] = "\n".join(
            f"{name}: {hashlib.sha256(data).hexdigest()}" for name, data in files.items()
        )
    if files:
        row["attachments"] = "|".join(files)
    return Entity(row, files)


def package(entities: Sequence[Entity], mapping: Mapping) -> bytes:
    """The zip: import.csv (UTF-8, comma-separated, a header row) and every file at the root."""
    names = mapping.columns()
    text = csv_text([names, *([item.row.get(k, "") for k in names] for item in entities)],
                    bom=False)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("import.csv", text.encode("utf-8"))
        for item in entities:
            for name, data in item.files.items():
                archive.writestr(name, data)
    return out.getvalue()
