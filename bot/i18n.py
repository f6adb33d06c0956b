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
    "fa": "فارسی",
    "ps": "پښتو",
    "my": "မြန်မာ",
    "am": "አማርኛ",
    "sw": "Kiswahili",
    "tr": "Türkçe",
}
SUPPORTED_LANGUAGES = tuple(LANGUAGE_NAMES)
# Written right to left. Telegram sets each paragraph's direction from its first letter, so these
# catalogs start every line with a letter of their own script (tests/bot/test_translations.py),
# and use their own comma, question mark and quotation marks (، ؟ «»).
RIGHT_TO_LEFT = frozenset({"ar", "fa", "ps"})
# Telegram's language_code is the app's IETF tag ("fa", "fa-IR", "sw-KE"), but some phones report
# an ISO 639-2/3 code instead; Dari (prs), spoken in Afghanistan, reads Persian.
_LANGUAGE_ALIASES = {
    "per": "fa", "fas": "fa", "prs": "fa",
    "pus": "ps", "pbt": "ps", "pbu": "ps", "pst": "ps",
    "bur": "my", "mya": "my",
    "amh": "am",
    "swa": "sw", "swh": "sw", "swc": "sw",
    "tur": "tr",
    "ukr": "uk", "rus": "ru", "ara": "ar", "spa": "es", "fra": "fr", "fre": "fr", "eng": "en",
}


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
    """The supported language for a Telegram language_code such as "uk", "fa-IR" or "pt-BR"."""
    base = (code or "").replace("_", "-").split("-")[0].lower()
    base = _LANGUAGE_ALIASES.get(base, base)
    return base if base in available else None
