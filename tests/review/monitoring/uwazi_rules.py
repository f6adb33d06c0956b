"""A validator for Uwazi CSV import packages, written from Uwazi's own import code.

Read in huridocs/uwazi (app/api/csv/ and what it calls), re-stated here in Python, not copied:

- csv.ts `peekHeaders`: the header is read by csvtojson from the first chunk of the file
  (16 KiB out of the zip), then the parser is ended; a quoted cell still open at that point is
  csvtojson's "unclosed_quote" error and the whole import fails. csvtojson (v2) strips a BOM,
  trims unquoted cells, and separates cells at `,` or `;` (DELIMITERS).
- validateColumns.ts / entityRow.ts / shared/propertyNames.ts: each header goes through
  `safeName` (trim, replace # \\ / * ? " < > | = whitespace : . [ ] % by _, drop a leading
  _ - + $, lowercase; with newNameGeneration letters of any script stay, without it anything
  but a-z0-9 becomes _), and `<name>__<language>` is a translation column.
- templates/utils.ts `generateName`: a geolocation property is named `<label>_geolocation`.
- importEntity.ts: `title`, `attachments` (`|`-separated file names extracted from the zip),
  and `id`, which is looked up as an existing entity's sharedId; properties are read only for
  a non-empty cell.
- typeParsers.ts and typeParsers/: text and markdown are kept as they are; geolocation is
  `lat|lon` (both needed); a date is parsed by moment with [collection format, LL,
  YYYY MM DD, YYYY/MM/DD, YYYY-MM-DD, YYYY]; a link is `label|url` and dropped without a host;
  select and multiselect labels (multiselect split at `|`) are matched after trim+lowercase,
  `Group::Value` names a value inside a group (more than one `::` is an error).
- arrangeThesauri.ts: a label not in the thesaurus is added to it as a new value (at the top
  level when it has no group), and a group's own label used as a value is an error.
- app/react/Markdown/markdownToReact.js: markdown properties are rendered by markdown-it with
  raw HTML on, and `{name}(...)` is expanded into an embedded component.

Anything it finds is returned as a list of problems, so a test shows them all at once.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import zipfile
from dataclasses import dataclass, field

import filetype
from markdown_it import MarkdownIt
from PIL import Image

RESERVED = {"id", "title", "file", "files", "attachments"}
HEADER_CHUNK = 16 * 1024
SHOWN = ("image/", "audio/", "video/", "application/pdf")
_MARKDOWN = MarkdownIt("commonmark", {"html": True, "xhtmlOut": True})  # as Uwazi's viewer
_COMPONENT = re.compile(r"\{\w+\}\(")


@dataclass(frozen=True)
class Property:
    type: str  # text, markdown, select, multiselect, date, geolocation, numeric, link
    # Thesaurus values: "Label" at the top level, "Group::Label" inside a group.
    thesaurus: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Template:
    properties: dict[str, Property]
    date_format: str = "YYYY/MM/DD"
    new_name_generation: bool = True
    id_property: str = "intake_report_id"
    # Rows already imported into this collection (by public id): importing one again unchanged
    # would make a second entity.
    imported: dict[str, dict[str, str]] = field(default_factory=dict)


def safe_name(label: str, new_name_generation: bool) -> str:
    if not new_name_generation:
        return re.sub(r"[^a-z0-9]", "_", label.strip(), flags=re.IGNORECASE).lower()
    name = re.sub(r"[#|\\/*?\"<>=\s:.\[\]%]", "_", label.strip())
    return (name[1:] if name[:1] in ("_", "-", "+", "$") else name).lower()


def header_peek_problems(data: bytes) -> list[str]:
    """What csvtojson meets when Uwazi reads the header from the first 16 KiB (csv.ts)."""
    first = data[:HEADER_CHUNK].decode("utf-8", errors="ignore")
    if "\n" not in first:
        return ["the header row does not end within the first 16 KiB"]
    inside = False
    for char in first:
        if char == '"':
            inside = not inside  # "" inside a quoted cell toggles twice: still inside
    return ["a quoted cell is open at byte 16384: Uwazi's header peek fails (unclosed_quote)"
            ] if inside and len(data) > HEADER_CHUNK else []


def _moment_dates(value: str, date_format: str) -> set[dt.date]:
    """Every date moment could read from the digits, by the formats Uwazi passes it."""
    numbers = re.findall(r"\d+", value)
    if len(numbers) != 3:
        return set()
    orders = {tuple(re.findall(r"YYYY|MM|DD", date_format.upper())), ("YYYY", "MM", "DD")}
    found = set()
    for order in orders:
        parts = dict(zip(order, (int(n) for n in numbers), strict=True))
        try:
            found.add(dt.date(parts["YYYY"], parts["MM"], parts["DD"]))
        except (ValueError, KeyError):
            continue
    return found


def _label_problems(value: str, prop: Property) -> list[str]:
    problems = []
    known = {v.strip().lower() for v in prop.thesaurus}
    groups = {v.split("::")[0].strip().lower() for v in prop.thesaurus if "::" in v}
    labels = value.split("|") if prop.type == "multiselect" else [value]
    for label in labels:
        if label.count("::") > 1:
            problems.append(f"{label!r} has too many parent-child separators")
        elif label.strip().lower() in groups:
            problems.append(f"{label!r} is a group label: Uwazi refuses it")
        elif label.strip().lower() not in known:
            child = label.strip().lower()
            grouped = [v for v in prop.thesaurus if v.split("::")[-1].strip().lower() == child]
            hint = f" (it is in a group: {grouped[0]!r})" if grouped else ""
            problems.append(f"{label!r} is not in the thesaurus: Uwazi would add it as a new "
                            f"value{hint}")
    if prop.type == "select" and "|" in value:
        problems.append(f"{value!r}: one value only (a select reads the whole cell as one label)")
    return problems


def markdown_text(value: str) -> tuple[str, list[str]]:
    """What Uwazi shows of a markdown cell as text (lines kept), and what in it would run."""
    problems = []
    if _COMPONENT.search(value):
        problems.append(f"{value[:40]!r}: a {{component}}( Uwazi would embed")
    rendered = _MARKDOWN.render(value)
    tags = set(re.findall(r"</?([a-zA-Z][a-zA-Z0-9]*)", rendered)) - {"p", "br", "strong"}
    if tags:
        problems.append(f"markdown renders as HTML elements {sorted(tags)}")
    text = re.sub(r"<br\s*/>\n?", "\n", rendered)
    text = re.sub(r"</p>\n?<p>", "\n\n", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text)).strip("\n")
    return text, problems


def _check(name: str, prop: Property, value: str, template: Template) -> list[str]:
    if ("\n" in value or "\r" in value) and prop.type != "markdown":
        return ["a line break in a cell that is one line in Uwazi"]
    if prop.type == "date":
        dates = _moment_dates(value, template.date_format)
        if len(dates) != 1:
            return [f"{value!r} is not one date for Uwazi (format {template.date_format})"]
    elif prop.type == "geolocation":
        if not name.endswith("_geolocation"):
            return ["a geolocation column is named <property>_geolocation"]
        try:
            lat, lon = (float(p) for p in value.split("|"))
        except ValueError:
            return [f"{value!r} is not lat|lon"]
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return [f"{value!r} is out of range"]
    elif prop.type in ("select", "multiselect"):
        return _label_problems(value, prop)
    elif prop.type == "numeric":
        try:
            float(value)
        except ValueError:
            return [f"{value!r} is not a number"]
    elif prop.type == "link":
        label, _, url = value.partition("|")
        if not re.match(r"https?://[^/\s|]+", url) or not label:
            return [f"{value!r} is not label|url with a host: Uwazi drops it"]
    elif prop.type == "markdown":
        return markdown_text(value)[1]
    return []


def _file_problems(row: int, value: str, files: dict[str, bytes]) -> list[str]:
    problems = []
    for name in value.split("|"):
        data = files.get(name)
        if data is None:
            problems.append(f"row {row}: {name} is not in the zip")
            continue
        kind = filetype.guess_mime(data) or "unknown"
        if not kind.startswith(SHOWN):
            problems.append(f"row {row}: {name} is {kind}, which Uwazi does not show")
        if kind.startswith("image/"):
            with Image.open(io.BytesIO(data)) as image:
                if image.getexif() or "exif" in image.info:
                    problems.append(f"row {row}: {name} carries EXIF (camera, location)")
    return problems


def validate(
    package: bytes, template: Template
) -> tuple[list[str], list[dict[str, str]], dict[str, bytes]]:
    """(problems, rows, files) of an import package for this template."""
    problems: list[str] = []
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    if "import.csv" not in files:
        return ["no import.csv at the root of the zip"], [], files
    problems += [f"{name}: not at the root of the zip" for name in files if "/" in name]
    data = files.pop("import.csv")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ["import.csv is not UTF-8"], [], files
    problems += header_peek_problems(data)
    # csvtojson trims the spaces around a cell (and the package pads with them).
    table = [[cell.strip(" ") for cell in row]
             for row in csv.reader(io.StringIO(text, newline=""))]
    if not table:
        return ["import.csv is empty"], [], files
    headers = [safe_name(h, template.new_name_generation) for h in table[0]]
    if len(set(headers)) != len(headers):
        problems.append(f"a column appears twice: {headers}")
    if "title" not in headers:
        problems.append("no title column")
    if "id" in headers:
        problems.append("an id column: Uwazi would update the entity with that sharedId")
    if template.id_property not in headers:
        problems.append(f"no {template.id_property} column: the report's public id")
    for header in headers:
        if "__" in header:
            problems.append(f"{header}: a language suffix this package must not need")
        elif header not in RESERVED and header not in template.properties:
            problems.append(f"{header}: not a property of the template")
    rows: list[dict[str, str]] = []
    for number, cells in enumerate(table[1:], start=2):
        if len(cells) != len(headers):
            problems.append(f"row {number}: {len(cells)} cells for {len(headers)} columns")
            continue
        row = dict(zip(headers, cells, strict=True))
        rows.append(row)
        if not row.get("title", "").strip():
            problems.append(f"row {number}: no title")
        if "\n" in row.get("title", ""):
            problems.append(f"row {number}: a line break in the title")
        public = row.get(template.id_property, "")
        if not re.fullmatch(r"[0-9a-f]{32}", public):
            problems.append(f"row {number}: {public!r} is not a report's public id")
        elif template.imported.get(public) == row:
            problems.append(f"row {number}: report {public} was imported unchanged before")
        for name, value in row.items():
            if not value:
                continue
            if name in ("files", "attachments", "file"):
                problems += _file_problems(number, value, files)
                continue
            prop = template.properties.get(name)
            if prop is not None:
                problems += [f"row {number}, {name}: {p}" for p in _check(name, prop, value,
                                                                          template)]
    return problems, rows, files
