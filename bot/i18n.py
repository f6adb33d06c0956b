"""Translations for the bot's own messages, from standard gettext catalogs (bot/locale/*.po).

English is the source language. Catalogs are read with Babel and compiled in memory when first
used, so the repository holds only the reviewable .po text. A language without a catalog, or a
string missing from one, falls back to English, never to an error in front of a witness.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "intake"
SOURCE_LANGUAGE = "en"
# Each language's own name, so a witness finds theirs whatever language is showing.
LANGUAGE_NAMES = {
    "en": "English",
    "uk": "Українська",
    "ru": "Русский",
    "ar": "العربية",
    "es": "Español",
    "fr": "Français",
}
SUPPORTED_LANGUAGES = tuple(LANGUAGE_NAMES)


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    path = catalog_path(language)
    if language == SOURCE_LANGUAGE or not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = io.BytesIO()
    # Fuzzy entries are unreviewed guesses; a witness sees English rather than a wrong text.
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def choose_language(code: str | None, available: tuple[str, ...]) -> str | None:
    """The supported language for a Telegram language_code such as "uk" or "pt-BR"."""
    base = (code or "").split("-")[0].lower()
    return base if base in available else None
