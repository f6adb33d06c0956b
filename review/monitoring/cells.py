"""The one CSV writer of the project: cells a spreadsheet will not run, and UTF-8 it can read.

Every CSV the project writes goes through `csv_text` (export-data, the console's exports and
overview numbers, `review stats --csv`, Uwazi's import.csv), because witness text is hostile:
a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula
(`=HYPERLINK("http://x","click")`, `@SUM(1)`), and a leading tab or carriage return can hide
such a start from a check. OWASP's advice ("CSV Injection") is followed: such a cell is
prefixed with a single quote, which every spreadsheet reads as "this is text", and the cell is
quoted when it holds a separator, a quote or a line break (Python's csv module does that).

Only text is neutralised. Numbers the program writes itself (a latitude of -12.05, a count) are
`int` or `float` and stay numbers; a text a witness typed, even `-1`, is text and is marked.
`Verbatim` is for cells the program composes only from numbers and separators (Uwazi's
`lat|lon`), which a reader parses and no spreadsheet can run.

Spreadsheet CSVs start with a UTF-8 byte-order mark: Excel reads a file without one in the
system's legacy code page, which garbles Cyrillic and Arabic; LibreOffice, pandas
(`encoding="utf-8-sig"`), R and Python's csv read it either way.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

BOM = "\ufeff"
# What a spreadsheet takes as the start of a formula (OWASP): = + - @, and tab and carriage
# return, which some strip before looking.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A formula start after spaces (LibreOffice's CSV import can trim them), or inside the text after
# a `;` or a line break: where the list separator is `;` (Ukrainian, Russian, German, French...
# Windows) Excel splits a comma-separated file at every `;`, and a quote that does not open a
# field is a plain character there, so a line break inside a quoted cell ends the row. Each of
# these places can start a cell, so each gets the same `'`.
_HIDDEN_START = re.compile(r"([;\r\n][ \t]*)(?=[=+\-@])")
_NUMBERS = re.compile(r"-?[0-9]+(\.[0-9]+)?(\|-?[0-9]+(\.[0-9]+)?)*")

Cell = str | int | float | bool | None


class Verbatim(str):
    """A cell composed by the program from numbers and `|` only, written as it is."""

    __slots__ = ()

    def __new__(cls, value: str) -> Verbatim:
        if not _NUMBERS.fullmatch(value):
            raise ValueError(f"not numbers separated by |: {value!r}")
        return super().__new__(cls, value)


def neutralise(text: str) -> str:
    """Text as a spreadsheet shows it without running it: a ' wherever a cell could start with a
    formula (at the start, after spaces, after a `;` or a line break)."""
    marked = _HIDDEN_START.sub(r"\1'", text)
    starts = marked.startswith(FORMULA_STARTS) or marked.lstrip(" ").startswith(FORMULA_STARTS)
    return "'" + marked if starts else marked


def cell_text(value: Cell) -> str:
    """One cell: None empty, booleans 1 and 0, numbers as they are, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | Verbatim):
        return str(value)
    return neutralise(value)


def csv_text(rows: Iterable[Sequence[Cell]], *, bom: bool = True) -> str:
    """The rows as CSV (CRLF line ends, quoted where needed), every cell through `cell_text`."""
    out = io.StringIO()
    if bom:
        out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell_text(value) for value in row])
    return out.getvalue()


def is_formula(cell: str) -> bool:
    """Whether a spreadsheet would evaluate this cell as read from a CSV file (for checks)."""
    cell = cell.lstrip(" ")
    return cell.startswith(FORMULA_STARTS) and not _NUMBERS.fullmatch(cell)
