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
    "ru": re.compile(r"[ыэъёЫЭЪЁ]"),
    "ar": re.compile(r"[\u0600-\u06FF]"),
    "es": re.compile(r"[áéíóúñ¿¡]"),
    "fr": re.compile(r"[àâçéèêëîïôûùü]"),
}


# A message is a string, or (singular, plural) for a count said through ngettext.
Message = str | tuple[str, str]


def _source_messages() -> set[Message]:
    found = extract_from_dir(str(BOT_DIR), method_map=[("**.py", "python")],
                             keywords={"_": None, "ngettext": (1, 2)})
    return {message for _filename, _line, message, _comments, _context in found}


def _placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def test_source_has_messages() -> None:
    """The extractor finds the bot's strings, counts included (so the checks below cannot pass
    vacuously)."""
    messages = _source_messages()
    assert len(messages) > 60
    assert ("{count} photo", "{count} photos") in messages


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_is_complete(language: str) -> None:
    """Every source string is translated, reviewed (not fuzzy) and keeps its placeholders."""
    with catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    missing, fuzzy, broken = [], [], []
    for message in sorted(_source_messages(), key=str):
        entry = catalog.get(message[0] if isinstance(message, tuple) else message)
        if entry is None or not entry.string:
            missing.append(message)
        elif entry.fuzzy:
            fuzzy.append(message)
        elif isinstance(message, tuple):
            # Every plural form the language has, each without placeholders of its own (a
            # form for exactly one or two may leave the number out, as Arabic does).
            forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            if len(forms) != catalog.num_plurals or not all(forms):
                missing.append(message)
            elif any(not _placeholders(form) <= _placeholders(message[1]) for form in forms):
                broken.append(message)
        elif _placeholders(message) != _placeholders(str(entry.string)):
            broken.append(message)
    assert not missing, f"{language}: {len(missing)} untranslated, e.g. {missing[:3]}"
    assert not fuzzy, f"{language}: fuzzy entries {fuzzy[:3]}"
    assert not broken, f"{language}: placeholders differ in {broken[:3]}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_is_in_its_language(language: str) -> None:
    """Most translations use letters of the language's own script."""
    catalog = translations(language)

    def translated(message: Message) -> str:
        if isinstance(message, tuple):
            return catalog.ngettext(*message, 5)
        return catalog.gettext(message)

    messages = sorted(_source_messages(), key=str)
    native = sum(bool(_SCRIPT[language].search(translated(m))) for m in messages)
    assert native >= len(messages) * 0.5, f"{language}: only {native}/{len(messages)} look native"


def test_questionnaire_has_every_language() -> None:
    """The shipped questionnaire offers every supported language, for every text."""
    questionnaire = load_questionnaire(DEFAULT_QUESTIONNAIRE)
    assert set(questionnaire.languages) == set(SUPPORTED_LANGUAGES)
    for question in questionnaire.questions:
        texts = [question.text, question.label, *(c.text for c in question.choices),
                 *(c.reply for c in question.choices if c.reply is not None)]
        for text in texts:
            assert set(text.by_language) == set(SUPPORTED_LANGUAGES), question.id
