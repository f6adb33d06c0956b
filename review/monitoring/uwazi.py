"""Uwazi's CSV import package, part 1: the mapping from the questionnaire to a template.

Uwazi (HURIDOCS) imports entities from a zip holding `import.csv` at its root and the files
the rows name beside it. What the package must look like was read from Uwazi's own import code
(huridocs/uwazi, app/api/csv/: csvLoader.ts, csv.ts, validateColumns.ts, entityRow.ts,
importEntity.ts, typeParsers.ts and typeParsers/, arrangeThesauri.ts; app/shared/
propertyNames.ts; app/api/templates/utils.ts), not copied from it:

- a column header is turned into a property name by `safeName` (trimmed, lowercased; with the
  collection's "new name generation" letters of any script are kept, so a Cyrillic or Arabic
  property name is fine), and a column ending in `__<language>` is a translation;
- a geolocation property is *named* `<label>_geolocation` by Uwazi, so that is its column;
- `id` is Uwazi's own entity id (sharedId): a row with one updates that entity, so it is never
  used for our report id, which gets its own text property;
- a select or multi-select value is a thesaurus label, matched after trimming and lowercasing;
  a value inside a thesaurus group is written `Group::Value`, and a label Uwazi does not find
  is *added* to the thesaurus as a new value;
- a date is read by moment with the collection's date format *and* `YYYY-MM-DD`, so ISO dates
  are read right whatever that format is, unless it is year-day-month, which would also match.

The mapping file (TOML or JSON; docs/monitoring.md, docs/examples/uwazi-events.toml) says which
question or field fills which property; part 2 (uwazi_rows.py) writes the rows and the zip.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from review.monitoring.records import QuestionShape

# Columns Uwazi reads itself (importEntity.ts, csvLoader.ts): never a property of ours.
RESERVED = ("title", "attachments", "id", "file", "files")
PROPERTY_TYPES = (
    "text", "markdown", "select", "multiselect", "date", "geolocation", "numeric", "link",
)
FIELDS = (
    "report_id", "received_day", "status", "priority", "labels", "language", "follow_up",
    "evidence_link",
)
# Which part of a place answer a property takes (a place question gives three).
PLACE_PARTS = ("text", "location", "approximate")
# What propertyNames.ts (new name generation) replaces with `_`, and what a name may not
# start with; a name that comes out of safeName unchanged is the name Uwazi matches.
_UNSAFE = re.compile(r"[#|\\/*?\"<>=\s:.\[\]%]")
_BAD_START = ("_", "-", "+", "$")
_DATE_TOKENS = {"YYYY": "%Y", "MM": "%m", "DD": "%d"}
_DATE_FORMAT = re.compile(r"(YYYY|MM|DD)([/. -])(YYYY|MM|DD)\2(YYYY|MM|DD)")
GROUP_SEPARATOR = "::"  # csvDefinitions.ts dictionaryParentChildSeparator


class MappingError(Exception):
    """The mapping file is not usable; the message names the property and the fix."""


@dataclass(frozen=True)
class PropertyMap:
    name: str  # the Uwazi property's name, as /api/templates shows it: the CSV column
    type: str
    question: str | None = None
    field: str | None = None  # one of FIELDS instead of a question
    values: dict[str, str] = dataclasses.field(default_factory=dict)  # choice id -> label
    part: str | None = None  # for a place question: one of PLACE_PARTS


@dataclass(frozen=True)
class Mapping:
    date_format: str  # the collection's, in Uwazi's notation; dates are written ISO 8601
    title: str  # a pattern: {report_id}, {short_id}, {received_day}, {<question id>}
    properties: tuple[PropertyMap, ...]
    id_property: str  # the text property holding the report's public id
    hashes_property: str | None = "evidence_sha256"
    attachments: bool = True
    # The evidence bundle, linked from each entity: {report_id} and {manifest_sha256}.
    evidence_link: str | None = None
    destination: str | None = None  # names the collection, for incremental exports

    def columns(self) -> list[str]:
        """title, the properties, the hashes, attachments, and the report id last (its value
        is hexadecimal, never quoted, so the package may pad after it: uwazi_rows.py)."""
        names = ["title", *(p.name for p in self.properties if p.name != self.id_property)]
        if self.hashes_property:
            names.append(self.hashes_property)
        if self.attachments:
            names.append("attachments")
        names.append(self.id_property)
        return names


def uwazi_safe_name(label: str) -> str:
    """Uwazi's safeName with new name generation (app/shared/propertyNames.ts), re-stated."""
    name = _UNSAFE.sub("_", label.strip())
    if name.startswith(_BAD_START):
        name = name[1:]
    return name.lower()


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


def _check_name(name: str, where: str) -> None:
    # "__" starts a language suffix (entityRow.ts); "," and ";" are the separators csvtojson
    # tells apart by the header line (csv.ts).
    if (not name or uwazi_safe_name(name) != name or "__" in name or name in RESERVED
            or "," in name or ";" in name):
        raise MappingError(
            f"{where}: name is the property's name as Uwazi shows it at /api/templates "
            f"(lowercase, no spaces or # \\ / * ? \" < > | = : . [ ] % , ;, no __; letters of "
            f"any script are fine), and not {', '.join(RESERVED)}; e.g. "
            f"{uwazi_safe_name(name).replace(',', '_').replace(';', '_')!r}"
        )


def _check_values(values: object, where: str) -> dict[str, str]:
    if not isinstance(values, dict) or not all(
        isinstance(v, str) and v.strip() and "|" not in v and v.count(GROUP_SEPARATOR) <= 1
        and all(part.strip() for part in v.split(GROUP_SEPARATOR))
        for v in values.values()
    ):
        raise MappingError(f"{where}: values maps choice ids to thesaurus labels: text without "
                           "|, a value inside a thesaurus group as \"Group::Value\"")
    return {str(k): str(v) for k, v in values.items()}


def _property(index: int, entry: dict[str, Any]) -> PropertyMap:
    name = str(entry.get("name", ""))
    where = f"properties[{index}] ({name or 'no name'})"
    _check_name(name, where)
    kind = str(entry.get("type", ""))
    if kind not in PROPERTY_TYPES:
        raise MappingError(f"{where}: type is one of {', '.join(PROPERTY_TYPES)}")
    if kind == "geolocation" and not name.endswith("_geolocation"):
        raise MappingError(f"{where}: Uwazi names a geolocation property <label>_geolocation "
                           f"and reads only that column: name = \"{name}_geolocation\"")
    question, source = entry.get("question"), entry.get("field")
    if (question is None) == (source is None):
        raise MappingError(f"{where}: give either question = \"<question id>\" or field = "
                           f"one of {', '.join(FIELDS)}")
    if source is not None and source not in FIELDS:
        raise MappingError(f"{where}: field is one of {', '.join(FIELDS)}")
    if source in ("follow_up",) and kind != "markdown":
        raise MappingError(f"{where}: the follow-up is several entries: type = \"markdown\"")
    if source == "evidence_link" and kind != "link":
        raise MappingError(f"{where}: the evidence link is Uwazi's link type: type = \"link\"")
    part = entry.get("part")
    if part is not None and part not in PLACE_PARTS:
        raise MappingError(f"{where}: part is one of {', '.join(PLACE_PARTS)} (a place answer)")
    values = _check_values(entry.get("values", {}), where)
    if part == "approximate" and kind == "select" and not {"approximate", "exact"} <= set(values):
        raise MappingError(f"{where}: the approximate-location flag needs values for "
                           "\"approximate\" and \"exact\" (thesaurus labels)")
    return PropertyMap(name, kind, question, source, values, part)


def parse_mapping(raw: dict[str, Any]) -> Mapping:
    collection = raw.get("collection", {})
    date_format = str(collection.get("date_format", "YYYY/MM/DD"))
    parts = _DATE_FORMAT.fullmatch(date_format)
    if parts is None or {parts.group(1), parts.group(3), parts.group(4)} != set(_DATE_TOKENS):
        raise MappingError(
            f"collection.date_format {date_format!r} is not a date format like YYYY/MM/DD or "
            "DD/MM/YYYY: copy it from the collection's settings in Uwazi"
        )
    if (parts.group(1), parts.group(3)) == ("YYYY", "DD"):
        raise MappingError(
            f"collection.date_format {date_format!r}: Uwazi reads a date with this format and "
            "with YYYY-MM-DD, so 2026-05-06 would be 5 June or 6 May; dates are written "
            "YYYY-MM-DD, which needs another collection date format (e.g. YYYY/MM/DD)"
        )
    properties = tuple(_property(i, e) for i, e in enumerate(raw.get("properties", [])))
    names = [p.name for p in properties]
    if len(set(names)) != len(names):
        raise MappingError("two properties have the same name: each column appears once")
    ids = [p.name for p in properties if p.field == "report_id"]
    if len(ids) != 1 or next(p for p in properties if p.field == "report_id").type != "text":
        raise MappingError("add one text property with field = \"report_id\" (e.g. "
                           "intake_report_id): the report's public id, which finds the "
                           "report again and makes incremental exports possible")
    links = [p for p in properties if p.field == "evidence_link"]
    evidence = raw.get("evidence", {}).get("link")
    if links and not (isinstance(evidence, str) and re.match(r"https?://[^/\s]+", evidence)):
        raise MappingError("evidence.link is the address of the evidence bundles, e.g. "
                           "\"https://evidence.example.org/{report_id}#sha256={manifest_sha256}\""
                           ": Uwazi keeps a link only with a host")
    title = raw.get("title", {}).get("pattern", "Report {short_id} ({received_day})")
    files = raw.get("files", {})
    hashes = files.get("hashes_property", "evidence_sha256")
    if hashes is False:  # TOML has no null: `false` leaves the hashes out
        hashes = None
    if hashes is not None:
        _check_name(str(hashes), "files.hashes_property")
        if hashes in names:
            raise MappingError("files.hashes_property is a markdown property's name, not "
                               "used above")
    destination = collection.get("name")
    return Mapping(date_format, str(title), properties, ids[0], hashes,
                   bool(files.get("attachments", True)),
                   str(evidence) if links else None,
                   str(destination) if destination else None)


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
        if prop.part is not None and question.type != "place":
            raise MappingError(f"property {prop.name}: part applies to a place question; "
                               f"{prop.question} is a {question.type} question")
        if prop.type in ("select", "multiselect") and question.choices:
            missing = [c for c, _ in question.choices if c not in prop.values]
            if missing:
                raise MappingError(f"property {prop.name}: add values for the choices "
                                   f"{', '.join(missing)} of question {prop.question}")
