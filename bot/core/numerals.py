"""Numbers and dates as a witness types them: in their own digits and their language's order.

A witness types ٢٠٢٦-١٢-٠١ (Arabic-Indic), ۱۴۰۵/۰۹/۱۰ (Persian), २०२६ (Devanagari), ၂၀၂၆
(Myanmar) or ፳፻፲፰ (Ethiopic numerals, which have no zero and are not positional). Every Unicode
decimal digit is read by its value (`unicodedata.decimal`), Ethiopic numerals by their own
additive rule; answers are stored with ASCII digits and shown back in the script they came in.
Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

import jdatetime

# The "zero" a script's digits count from; the tag stored for Ethiopic numerals, which have
# no zero, is their one.
ASCII = "0"
ETHIOPIC = "\u1369"  # ፩

_ETHIOPIC_ONES = {chr(0x1369 + i): i + 1 for i in range(9)}  # ፩..፱
_ETHIOPIC_TENS = {chr(0x1372 + i): (i + 1) * 10 for i in range(9)}  # ፲..፺
_ETHIOPIC_HUNDRED = "\u137b"  # ፻
_ETHIOPIC_MYRIAD = "\u137c"  # ፼
_ETHIOPIC = re.compile("[\u1369-\u137c]+")

# Marks a right-to-left keyboard or a copy-paste leaves around numbers; never meaningful here.
_INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\u061c\u200b\u2066\u2067\u2068\u2069\u202a"
                                    "\u202b\u202c\u202d\u202e\ufeff"))
# Separators between day, month and year: ASCII ones, the Arabic date separator, the Arabic
# comma and full stop, and the Arabic decimal separator (keyboards offer it for "." or "/").
_SEPARATORS = "-./\u060d\u060c\u066b\u066c\u06d4\u2215\u2044"
_DATE = re.compile(rf"(\d{{1,4}})\s*[{re.escape(_SEPARATORS)}]\s*(\d{{1,2}})\s*"
                   rf"[{re.escape(_SEPARATORS)}]\s*(\d{{1,4}})")
_TIME = re.compile(r"([01]?\d|2[0-3])\s*[:.\u066b]\s*([0-5]\d)")

# The order a language writes day, month and year in when the year comes last. Most write the
# day first; the US habit (month first) is tried for English only when day-first cannot be a
# date (05/31/2026). A year written first (2026-05-31, ۱۴۰۵/۰۹/۱۰) is always year-month-day.
_MONTH_FIRST_TOO = frozenset({"en"})
# Languages whose witnesses often date in the Solar Hijri calendar (Iran, Afghanistan): a year
# from 1200 to 1599 is read in it. No Gregorian year that old is a plausible incident date.
_SOLAR_HIJRI = frozenset({"fa", "ps"})
_OLDEST_YEAR = 1900

GREGORIAN = "gregorian"
SOLAR_HIJRI = "solar_hijri"


@dataclass(frozen=True)
class TypedDate:
    day: dt.date
    time: dt.time | None
    calendar: str = GREGORIAN


# How a language usually writes a date the witness did not type (a button's): its digits and
# calendar. Arabic is written with either digit set across the Arab world: ASCII unless typed.
_USUAL_WRITING = {
    "fa": ("\u06f0", SOLAR_HIJRI),
    "ps": ("\u06f0", SOLAR_HIJRI),
    "my": ("\u1040", GREGORIAN),
}


def usual_writing(language: str) -> tuple[str, str]:
    """The digits tag and calendar a date is shown in when the witness typed none."""
    return _USUAL_WRITING.get(language, (ASCII, GREGORIAN))


def script_of(text: str) -> str:
    """The tag of the first non-ASCII digit script in `text` (ASCII when there is none)."""
    for ch in text:
        if ch in _ETHIOPIC_ONES or ch in _ETHIOPIC_TENS or ch in (_ETHIOPIC_HUNDRED,
                                                                   _ETHIOPIC_MYRIAD):
            return ETHIOPIC
        value = unicodedata.decimal(ch, None)
        if value is not None and not ch.isascii():
            return chr(ord(ch) - value)
    return ASCII


def ascii_digits(text: str) -> str:
    """`text` with every decimal digit, in any script, as its ASCII digit, Ethiopic numerals as
    decimal numbers, and invisible direction marks removed."""
    text = _ETHIOPIC.sub(lambda match: str(ethiopic_value(match.group())), text)
    text = text.translate(_INVISIBLE)
    return "".join(
        str(value) if (value := unicodedata.decimal(ch, None)) is not None else ch
        for ch in text
    )


def ethiopic_value(numeral: str) -> int:
    """፳፻፲፰ -> 2018: ones and tens add up, ፻ multiplies what precedes it by a hundred within
    its group, ፼ by ten thousand."""
    total = group = part = 0
    for ch in numeral:
        if ch in _ETHIOPIC_ONES:
            part += _ETHIOPIC_ONES[ch]
        elif ch in _ETHIOPIC_TENS:
            part += _ETHIOPIC_TENS[ch]
        elif ch == _ETHIOPIC_HUNDRED:
            group += (part or 1) * 100
            part = 0
        else:  # ፼
            total = (total + group + part or 1) * 10_000
            group = part = 0
    return total + group + part


def ethiopic_numeral(value: int) -> str:
    """2018 -> ፳፻፲፰, the inverse of `ethiopic_value` (0 has no numeral and stays 0).

    Base-100 pairs, most significant first, each followed by ፻ or ፼ by its place; a pair of
    one before a mark is left out (፻ is 100, ፼ 10,000)."""
    if value <= 0:
        return str(value)
    pairs: list[int] = []
    while value:
        value, pair = divmod(value, 100)
        pairs.insert(0, pair)
    out = []
    for index, pair in enumerate(pairs):
        place = len(pairs) - 1 - index
        if place == 0:
            out.append(_pair(pair))
        elif place % 2 == 1 and pair:
            out.append(("" if pair == 1 else _pair(pair)) + _ETHIOPIC_HUNDRED)
        elif place % 2 == 0:
            out.append(("" if pair in (0, 1) else _pair(pair)) + _ETHIOPIC_MYRIAD)
    return "".join(out)


def _pair(value: int) -> str:
    tens, ones = divmod(value, 10)
    return (chr(0x1371 + tens) if tens else "") + (chr(0x1368 + ones) if ones else "")


def in_script(text: str, script: str) -> str:
    """ASCII digits in `text` written in `script` (a tag from `script_of`)."""
    if script == ASCII:
        return text
    if script == ETHIOPIC:
        return re.sub(r"\d+", lambda match: ethiopic_numeral(int(match.group())), text)
    zero = ord(script)
    return "".join(chr(zero + ord(ch) - 48) if "0" <= ch <= "9" else ch for ch in text)


def parse_date(text: str, language: str, today: dt.date) -> TypedDate | None:
    """A date (and optional time) as the witness typed it; None when it cannot be read.

    Year first is year-month-day; year last is the language's order (day first; for English,
    month first too when day first cannot be a date). Two-digit years are this century's
    unless that would be in the future. Persian and Pashto years 1200-1599 are Solar Hijri."""
    plain = ascii_digits(text).strip()
    match = _DATE.match(plain)
    if match is None:
        return None
    rest = plain[match.end():].strip().lstrip(",\u060c").strip()
    time: dt.time | None = None
    if rest:
        time_match = _TIME.fullmatch(rest)
        if time_match is None:
            return None
        time = dt.time(int(time_match[1]), int(time_match[2]))
    first, middle, last = (int(g) for g in match.groups())
    if len(match[1]) >= 3:
        orders = [(first, middle, last)]  # year, month, day
    elif len(match[3]) in (2, 4):
        year = last if len(match[3]) == 4 else _century(last, today)
        orders = [(year, middle, first)]
        if language in _MONTH_FIRST_TOO:
            orders.append((year, first, middle))
    else:
        return None
    for year, month, day in orders:
        typed = _valid(year, month, day, time, language)
        if typed is not None:
            return typed
    return None


def _valid(year: int, month: int, day: int, time: dt.time | None,
           language: str) -> TypedDate | None:
    try:
        if language in _SOLAR_HIJRI and 1200 <= year < 1600:
            gregorian = jdatetime.date(year, month, day).togregorian()
            return TypedDate(gregorian, time, SOLAR_HIJRI)
        if year < _OLDEST_YEAR:
            return None
        return TypedDate(dt.date(year, month, day), time)
    except ValueError:
        return None


def solar_hijri(day: dt.date) -> str:
    """The Solar Hijri date of a Gregorian one, as YYYY-MM-DD in ASCII digits."""
    shown: str = jdatetime.date.fromgregorian(date=day).strftime("%Y-%m-%d")
    return shown


def _century(two_digits: int, today: dt.date) -> int:
    year = today.year // 100 * 100 + two_digits
    return year - 100 if year > today.year else year
