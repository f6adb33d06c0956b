"""Translations for the bot's own messages, from standard gettext catalogs under bot/locale.

English is the source language. A language without a catalog, or a string missing from one,
falls back to English (gettext's fallback), never to an error in front of a witness.
"""

from __future__ import annotations

import functools
import gettext
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "intake"


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)
