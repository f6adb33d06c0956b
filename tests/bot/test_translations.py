"""Every string the bot or the questionnaire shows exists in every supported language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.core import DEFAULT_QUESTIONNAIRE, load_questionnaire
from bot.i18n import SOURCE_LANGUAGE, SUPPORTED_LANGUAGES, catalog_path, translations

BOT_DIR = Path(__file__).resolve().parents[2] / "bot"
TRANSLATED = [language for language in SUPPORTED_LANGUAGES if language != SOURCE_LANGUAGE]
_PLACEHOLDER = re.compile(r"\{[a-z_]+(?::[^}]*)?\}")
# Letters that only (or mostly) occur in each language's script, to catch a catalog that was
# left in English or filled with the wrong language.
_SCRIPT = {
    "uk": re.compile(r"[іїєґІЇЄҐ]"),
    "ru": re.compile(r"[ыэъЫЭЪ]"),
    "ar": re.compile(r"[\u0600-\u06FF]"),
    "es": re.compile(r"[áéíóúñ¿¡]"),
    "fr": re.compile(r"[àâçéèêëîïôûùü]"),
}


def _source_messages() -> set[str]:
    found = extract_from_dir(str(BOT_DIR), method_map=[("**.py", "python")], keywords={"_": None})
    return {message for _filename, _line, message, _comments, _context in found}


def test_source_has_messages() -> None:
    """The extractor finds the bot's strings (so the checks below cannot pass vacuously)."""
    assert len(_source_messages()) > 60


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_is_complete(language: str) -> None:
    """Every source string is translated, reviewed (not fuzzy) and keeps its placeholders."""
    with catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    missing, fuzzy, broken = [], [], []
    for message in sorted(_source_messages()):
        entry = catalog.get(message)
        if entry is None or not entry.string:
            missing.append(message)
        elif entry.fuzzy:
            fuzzy.append(message)
        elif set(_PLACEHOLDER.findall(message)) != set(_PLACEHOLDER.findall(str(entry.string))):
            broken.append(message)
    assert not missing, f"{language}: {len(missing)} untranslated, e.g. {missing[:3]}"
    assert not fuzzy, f"{language}: fuzzy entries {fuzzy[:3]}"
    assert not broken, f"{language}: placeholders differ in {broken[:3]}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_is_in_its_language(language: str) -> None:
    """Most translations use letters of the language's own script."""
    gettext = translations(language).gettext
    messages = sorted(_source_messages())
    native = sum(bool(_SCRIPT[language].search(gettext(m))) for m in messages)
    assert native >= len(messages) * 0.5, f"{language}: only {native}/{len(messages)} look native"


def test_questionnaire_has_every_language() -> None:
    """The shipped questionnaire offers every supported language, for every text."""
    questionnaire = load_questionnaire(DEFAULT_QUESTIONNAIRE)
    assert set(questionnaire.languages) == set(SUPPORTED_LANGUAGES)
    for question in questionnaire.questions:
        texts = [question.text, question.label, *(c.text for c in question.choices)]
        for text in texts:
            assert set(text.by_language) == set(SUPPORTED_LANGUAGES), question.id
