"""Where a report happened, as a key reports can be counted by.

Typed places are normalised so that spelling noise does not split a count ("Kharkiv",
" kharkiv.", "KHARKIV" and "Kharkív" are one place); different names for one place are not
merged (that needs a gazetteer, and a wrong merge would be worse than a split). Shared
locations are put on a coarse grid of 0.1 degree (about 11 km north-south), so that the figures
never show a witness's exact position, and nearby reports count together.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

GRID_DEGREES = 0.1
_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)
_EDGES = re.compile(r"\A[\W_]+|[\W_]+\Z", re.UNICODE)  # "Saint-Denis." is shown "Saint-Denis"


def normalise_place(text: str) -> str:
    """Case, Latin accents, Arabic short vowels, punctuation and extra spaces removed.

    Marks on Cyrillic letters stay: й and и, ї and і are different letters, not accents.
    """
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    kept: list[str] = []
    for ch in folded:
        if unicodedata.category(ch) == "Mn" and (_is_arabic_mark(ch) or _after_latin(kept)):
            continue
        kept.append(ch)
    composed = unicodedata.normalize("NFC", "".join(kept))
    return " ".join(_PUNCTUATION.sub(" ", composed).split())


def _is_arabic_mark(ch: str) -> bool:
    return 0x0610 <= ord(ch) <= 0x061A or 0x064B <= ord(ch) <= 0x065F or ord(ch) == 0x0670


def _after_latin(kept: list[str]) -> bool:
    return bool(kept) and ord(kept[-1]) < 0x0250


def grid_cell(latitude: float, longitude: float) -> tuple[float, float]:
    """The south-west corner of the grid cell holding this point."""
    return (
        round(math.floor(latitude / GRID_DEGREES) * GRID_DEGREES, 1),
        round(math.floor(longitude / GRID_DEGREES) * GRID_DEGREES, 1),
    )


def place_key(answer: dict[str, Any] | None) -> tuple[str, str] | None:
    """(key, how to show it) for a place answer; None when no place was given.

    A shared location wins over a typed name: it is what the witness's phone measured.
    """
    if answer is None:
        return None
    latitude, longitude = answer.get("latitude"), answer.get("longitude")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        south, west = grid_cell(float(latitude), float(longitude))
        label = f"{south:.1f}, {west:.1f} (0.1° cell)"
        return f"grid:{south:.1f},{west:.1f}", label
    text = answer.get("text")
    if isinstance(text, str):
        key = normalise_place(text)
        if key:
            return f"name:{key}", " ".join(_EDGES.sub("", text).split())
    return None
