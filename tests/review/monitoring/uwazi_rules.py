"""A validator for Uwazi CSV import packages, written from Uwazi's documented import rules.

Uwazi's documentation ("CSV import" reference and how-to) says: a .zip holds `import.csv` at its
root and the files beside it, at the root too; the CSV is UTF-8, comma- or semicolon-separated,
with a header row; each header is a property name of the chosen template (text cleaned to
lowercase with underscores) or a reserved column (id, title, file, files, attachments); the
title is required on every row; several values in one cell are separated by `|` (multi-select,
files, attachments); a select holds the exact label of a thesaurus value; a geolocation is
latitude then longitude, separated by `|`; a date follows the collection's date format; a file
named in `file`, `files` or `attachments` must be in the zip.

Anything it finds is returned as a list of problems, so a test shows them all at once.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass

RESERVED = {"id", "title", "file", "files", "attachments"}


@dataclass(frozen=True)
class Property:
    type: str  # text, markdown, select, multiselect, date, geolocation, numeric
    thesaurus: frozenset[str] = frozenset()


def _clean(header: str) -> str:
    return "_".join(header.strip().lower().split())


def _strftime(uwazi_format: str) -> str:
    return uwazi_format.replace("YYYY", "%Y").replace("MM", "%m").replace("DD", "%d")


def validate(
    package: bytes, template: dict[str, Property], date_format: str
) -> tuple[list[str], list[dict[str, str]], dict[str, bytes]]:
    """(problems, rows, files) of an import package for this template."""
    problems: list[str] = []
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    if "import.csv" not in files:
        return ["no import.csv at the root of the zip"], [], files
    problems += [f"{name}: not at the root of the zip" for name in files if "/" in name]
    try:
        text = files.pop("import.csv").decode("utf-8")
    except UnicodeDecodeError:
        return ["import.csv is not UTF-8"], [], files
    table = list(csv.reader(io.StringIO(text, newline="")))
    if not table:
        return ["import.csv is empty"], [], files
    headers = [_clean(h) for h in table[0]]
    if len(set(headers)) != len(headers):
        problems.append(f"a column appears twice: {headers}")
    if "title" not in headers:
        problems.append("no title column")
    for header in headers:
        if "__" in header:
            problems.append(f"{header}: a language suffix this package must not need")
        elif header not in RESERVED and header not in template:
            problems.append(f"{header}: not a property of the template")
    rows: list[dict[str, str]] = []
    fmt = _strftime(date_format)
    for number, cells in enumerate(table[1:], start=2):
        if len(cells) != len(headers):
            problems.append(f"row {number}: {len(cells)} cells for {len(headers)} columns")
            continue
        row = dict(zip(headers, cells, strict=True))
        rows.append(row)
        if not row.get("title", "").strip():
            problems.append(f"row {number}: no title")
        for name, value in row.items():
            if not value:
                continue
            if name in ("files", "attachments", "file"):
                names = [value] if name == "file" else value.split("|")
                problems += [f"row {number}: {f} is not in the zip" for f in names
                             if f not in files]
                continue
            prop = template.get(name)
            if prop is None:
                continue
            problems += [f"row {number}, {name}: {p}" for p in _check(prop, value, fmt)]
    return problems, rows, files


def _check(prop: Property, value: str, fmt: str) -> list[str]:
    if prop.type == "date":
        for part in value.split("|"):
            try:
                dt.datetime.strptime(part, fmt)
            except ValueError:
                return [f"{part!r} is not a date in the collection's format"]
    elif prop.type == "geolocation":
        parts = value.split("|")
        try:
            lat, lon = (float(p) for p in parts)
        except ValueError:
            return [f"{value!r} is not lat|lon"]
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return [f"{value!r} is out of range"]
    elif prop.type == "select":
        if "|" in value:
            return [f"{value!r}: one value only"]
        if value not in prop.thesaurus:
            return [f"{value!r} is not in the thesaurus"]
    elif prop.type == "multiselect":
        unknown = [v for v in value.split("|") if v not in prop.thesaurus]
        if unknown:
            return [f"{unknown} not in the thesaurus"]
    elif prop.type == "numeric":
        try:
            float(value)
        except ValueError:
            return [f"{value!r} is not a number"]
    return []
