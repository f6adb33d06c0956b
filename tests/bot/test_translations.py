"""Every string the bot or the questionnaire shows exists in every supported language."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.core import DEFAULT_QUESTIONNAIRE, load_questionnaire
from bot.i18n import (
    LANGUAGE_NAMES,
    RIGHT_TO_LEFT,
    SOURCE_LANGUAGE,
    SUPPORTED_LANGUAGES,
    catalog_path,
    choose_language,
    translations,
)

BOT_DIR = Path(__file__).resolve().parents[2] / "bot"
TRANSLATED = [language for language in SUPPORTED_LANGUAGES if language != SOURCE_LANGUAGE]
_PLACEHOLDER = re.compile(r"\{[a-z_]+(?::[^}]*)?\}")
# Letters that only (or mostly) occur in each language's script, to catch a catalog that was
# left in English or filled with the wrong language.
SCRIPTS = {
    "uk": re.compile(r"[іїєґІЇЄҐ]"),
    "ru": re.compile(r"[ыэъёЫЭЪЁ]"),
    "ar": re.compile(r"[\u0600-\u06FF]"),
    "es": re.compile(r"[áéíóúñ¿¡]"),
    "fr": re.compile(r"[àâçéèêëîïôûùü]"),
    # Persian and Pashto are told from Arabic (and from each other) by their own letters.
    "fa": re.compile(r"[\u06CCپچژگ]"),
    "ps": re.compile(r"[ټډړږښګڼۍېځڅ]"),
    "my": re.compile(r"[\u1000-\u109F]"),
    "am": re.compile(r"[\u1200-\u137F]"),
    # Swahili is written in plain Latin letters: its most common short words instead.
    "sw": re.compile(r"\b(?:ya|wa|za|kwa|na|ni|au|hii|hapa|tafadhali|kitufe|hakuna)\b", re.I),
    "tr": re.compile(r"[çğışöüÇĞİŞÖÜ]"),
}
# What a small phone shows without cutting: a button's label, and a message not much longer than
# the English one (counted in visible characters, so Burmese and Amharic marks do not count).
_MAX_BUTTON = 40
_MAX_GROWTH = 1.6
_BUTTONS = ["Send", "Edit an answer", "Back", "Cancel", "Back to the summary",
            "Approximate (about 1 km)", "Exact", "Yes, continue", "No, stop", "Done", "Today",
            "Yesterday", "I don't know", "Keep this answer", "Skip", "Add information or files",
            "Delete this report", "Close", "Yes, delete it", "No, keep it", "Delete it", "Keep it",
            "Continue my report", "Start a new report"]


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
    native = sum(bool(SCRIPTS[language].search(translated(m))) for m in messages)
    assert native >= len(messages) * 0.5, f"{language}: only {native}/{len(messages)} look native"


def _visible(text: str) -> int:
    return sum(unicodedata.category(c) not in ("Mn", "Mc", "Cf") for c in text)


def _singular(message: Message) -> str:
    return message[0] if isinstance(message, tuple) else message


def test_every_language_is_checked() -> None:
    """A language added to bot/i18n.py without a script check here fails, not passes."""
    assert set(SCRIPTS) == set(TRANSLATED)
    assert len(SUPPORTED_LANGUAGES) == 12


@pytest.mark.parametrize("language", TRANSLATED)
def test_messages_fit_a_small_phone(language: str) -> None:
    """Buttons stay short, and no message grows much past its English source."""
    catalog = translations(language)
    messages = _source_messages()
    assert set(_BUTTONS) <= messages
    long_buttons = [b for b in _BUTTONS if _visible(catalog.gettext(b)) > _MAX_BUTTON]
    assert not long_buttons, f"{language}: buttons longer than {_MAX_BUTTON}: {long_buttons}"
    grown = [m for m in map(_singular, messages) if len(m) >= 40
             and _visible(catalog.gettext(m)) > _visible(m) * _MAX_GROWTH]
    assert not grown, f"{language}: more than {_MAX_GROWTH}x the English: {grown[:3]}"


def _rtl_texts(language: str) -> list[str]:
    """Every message and questionnaire text in `language`, placeholders filled in as the bot
    fills them (numbers, and Latin letters where a witness's own words go)."""
    catalog = translations(language)
    samples = {"count": 3, "length": 4000, "limit": 3500, "size": 25, "code": "1234-5678",
               "latitude": 50.45, "longitude": 30.52, "answer": "Kyiv", "note": "note",
               "status": "x"}
    texts = []
    for message in _source_messages():
        text = (catalog.ngettext(*message, 3) if isinstance(message, tuple)
                else catalog.gettext(message))
        texts.append(text.format(**samples))
    questionnaire = load_questionnaire(DEFAULT_QUESTIONNAIRE)
    for question in questionnaire.questions:
        texts += [question.text.get(language), question.label.get(language),
                  *(c.text.get(language) for c in question.choices),
                  *(c.reply.get(language) for c in question.choices if c.reply is not None)]
    return texts


@pytest.mark.parametrize("language", sorted(RIGHT_TO_LEFT))
def test_right_to_left_texts_read_the_right_way_round(language: str) -> None:
    """Telegram takes each line's direction from its first letter: a line that began with a
    number, a command or a Latin word would be laid out left to right, its full stop and
    numbers on the wrong side. So every line starts (in its first letter) right to left, and
    the punctuation is the script's own (، ؛ ؟), except the comma between two coordinates."""
    wrong_start, latin_marks = [], []
    for text in _rtl_texts(language):
        for line in text.splitlines():
            strong = [unicodedata.bidirectional(c) for c in line
                      if unicodedata.bidirectional(c) in ("L", "R", "AL")]
            if strong and strong[0] == "L":
                wrong_start.append(line)
        if re.search(r"[?;]|,(?! \d)", text):
            latin_marks.append(text)
    assert not wrong_start, f"{language}: lines laid out left to right: {wrong_start[:3]}"
    assert not latin_marks, f"{language}: Latin punctuation in {latin_marks[:3]}"


@pytest.mark.parametrize(("code", "language"), [
    ("fa", "fa"), ("fa-IR", "fa"), ("fa-AF", "fa"), ("prs", "fa"), ("ps", "ps"), ("ps-AF", "ps"),
    ("pbt", "ps"), ("my", "my"), ("my-MM", "my"), ("am", "am"), ("am-ET", "am"), ("sw", "sw"),
    ("sw-KE", "sw"), ("sw_TZ", "sw"), ("tr", "tr"), ("tr-TR", "tr"), ("TR", "tr"),
    ("ar-EG", "ar"), ("uk", "uk"), ("pt-BR", None), ("", None), (None, None),
])
def test_telegram_language_code_is_mapped(code: str | None, language: str | None) -> None:
    assert choose_language(code, SUPPORTED_LANGUAGES) == language


def test_chooser_names_each_language_in_itself() -> None:
    """The /language menu shows "فارسی", "Türkçe"…: each name in its own script, so a witness
    finds theirs whatever language is showing."""
    assert list(LANGUAGE_NAMES) == list(SUPPORTED_LANGUAGES)
    for language, name in LANGUAGE_NAMES.items():
        if language in SCRIPTS and language not in ("sw", "ru"):
            assert SCRIPTS[language].search(name), (language, name)
    assert LANGUAGE_NAMES["sw"] == "Kiswahili" and LANGUAGE_NAMES["ru"] == "Русский"


def test_questionnaire_has_every_language() -> None:
    """The shipped questionnaire offers every supported language, for every text."""
    questionnaire = load_questionnaire(DEFAULT_QUESTIONNAIRE)
    assert set(questionnaire.languages) == set(SUPPORTED_LANGUAGES)
    for question in questionnaire.questions:
        texts = [question.text, question.label, *(c.text for c in question.choices),
                 *(c.reply for c in question.choices if c.reply is not None)]
        for text in texts:
            assert set(text.by_language) == set(SUPPORTED_LANGUAGES), question.id
