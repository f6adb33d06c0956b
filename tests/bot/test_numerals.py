"""Issue 22 item 2: numbers and dates in the witness's own digits and their language's order;
stored normalised (ASCII, Gregorian), shown back in the script they were typed in."""

from __future__ import annotations

import datetime as dt
import itertools
import unicodedata

import pytest

from bot.core import Conversation, Draft, Press, Reply, Start, TextInput, load_questionnaire
from bot.core.draft import Action, DateAnswer
from bot.core.numerals import (
    ASCII,
    ETHIOPIC,
    ascii_digits,
    ethiopic_numeral,
    ethiopic_value,
    in_script,
    parse_date,
    script_of,
)
from bot.core.status import LookUpCode, StatusConversation
from bot.i18n import translations

TODAY = dt.date(2026, 12, 6)
MAY_31 = dt.date(2026, 5, 31)

# Per language: a date as a witness of it would type it, in its own digits and date order.
TYPED = {
    "en": ("31/05/2026", ASCII),
    "uk": ("31.05.2026", ASCII),
    "ru": ("31.05.26", ASCII),
    "ar": ("٣١/٠٥/٢٠٢٦", "٠"),
    "es": ("31-05-2026", ASCII),
    "fr": ("31/05/2026", ASCII),
    # Solar Hijri, Persian digits: 10 Khordad 1405 is 31 May 2026.
    "fa": ("۱۴۰۵/۰۳/۱۰", "۰"),
    "ps": ("۱۴۰۵/۳/۱۰", "۰"),
    "my": ("၃၁.၀၅.၂၀၂၆", "၀"),
    "am": ("፴፩/፭/፳፻፳፮", ETHIOPIC),
    "sw": ("31/5/2026", ASCII),
    "tr": ("31.05.2026", ASCII),
}


@pytest.mark.parametrize("language", sorted(TYPED))
def test_a_date_in_each_languages_own_digits_and_order(language: str) -> None:
    text, script = TYPED[language]
    typed = parse_date(text, language, TODAY)
    assert typed is not None and typed.day == MAY_31 and typed.time is None
    assert script_of(text) == script


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("٢٠٢٦-١٢-٠١", "ar", dt.date(2026, 12, 1)),          # the example
    ("\u200f٠١\u200f/١٢/٢٠٢٦", "ar", dt.date(2026, 12, 1)),  # with right-to-left marks
    ("٠١٫١٢٫٢٠٢٦", "ar", dt.date(2026, 12, 1)),          # Arabic decimal separator
    ("۲۰۲۶/۱۲/۰۱", "fa", dt.date(2026, 12, 1)),          # a Gregorian year stays Gregorian
    ("३१-०५-२०२६", "en", MAY_31),                          # Devanagari
    ("০৫/৩১/২০২৬", "en", MAY_31),                          # Bengali, month first (US)
    ("05/31/2026", "en", MAY_31),                           # US order when day-first fails
    ("2026-05-31", "tr", MAY_31),
])
def test_digits_of_any_script_and_the_year_first(
    text: str, language: str, expected: dt.date
) -> None:
    typed = parse_date(text, language, TODAY)
    assert typed is not None and typed.day == expected


@pytest.mark.parametrize(("text", "language"), [
    ("05/31/2026", "fr"),       # month first is read only for English
    ("31/05/1405", "ar"),       # no Solar Hijri outside fa/ps, and no Gregorian year 1405
    ("1405/03/10", "en"),
    ("٣١/١٣/٢٠٢٦", "ar"),       # month 13
    ("31.05", "ru"),
    ("tomorrow", "en"),
    ("31.05.2026 25:00", "ru"),
])
def test_what_cannot_be_a_date_is_refused(text: str, language: str) -> None:
    assert parse_date(text, language, TODAY) is None


def test_a_time_in_arabic_digits() -> None:
    typed = parse_date("٣١/٠٥/٢٠٢٦ ١٤:٣٠", "ar", TODAY)
    assert typed is not None and typed.time == dt.time(14, 30)


def test_every_unicode_decimal_digit_is_read() -> None:
    """Each of Unicode's decimal digit sets (Nd), not a hand-made list of scripts."""
    zeros = [chr(c) for c in range(0x110000)
             if unicodedata.category(chr(c)) == "Nd" and unicodedata.decimal(chr(c)) == 0]
    assert len(zeros) > 50
    for zero in zeros:
        digits = "".join(chr(ord(zero) + d) for d in range(10))
        assert ascii_digits(digits) == "0123456789", hex(ord(zero))
        assert in_script("0123456789", script_of(digits)) == digits


def test_ethiopic_numerals_both_ways() -> None:
    for value in (*range(1, 400), 1999, 2018, 2026, 10_000, 12_345, 1_000_000):
        assert ethiopic_value(ethiopic_numeral(value)) == value
    assert ethiopic_numeral(2018) == "፳፻፲፰"
    assert in_script("2026-05-31", ETHIOPIC) == "፳፻፳፮-፭-፴፩"


def _conversation() -> Conversation:
    counter = itertools.count()
    return Conversation(load_questionnaire(), translations, today=lambda: TODAY,
                        new_token=lambda: f"n{next(counter)}")


def _press(conversation: Conversation, draft: Draft | None, action: Action) -> Draft:
    assert draft is not None
    index = draft.prompt_actions.index(action)
    new, _effects = conversation.handle(draft, Press(f"{draft.prompt_nonce}.{index}"))
    assert new is not None
    return new


def _at_the_date(conversation: Conversation) -> Draft:
    draft, _effects = conversation.handle(None, Start("ar"))
    draft = _press(conversation, draft, Action("consent", "yes"))
    draft = _press(conversation, draft, Action("choice", "other"))
    at_date, _effects = conversation.handle(draft, TextInput("حدث شيء"))
    assert at_date is not None and at_date.current == "when"
    return at_date


def test_an_arabic_date_is_stored_normalised_and_shown_back_in_arabic_digits() -> None:
    conversation = _conversation()
    answered, _effects = conversation.handle(_at_the_date(conversation),
                                             TextInput("٢٠٢٦-١٢-٠١ ٠٩:٠٥"))
    assert answered is not None
    assert answered.answers["when"] == DateAnswer(dt.date(2026, 12, 1), dt.time(9, 5),
                                                  digits="٠")
    # Back to the date: its current answer is shown in the digits it was typed in.
    draft = _press(conversation, answered, Action("back"))
    prompt = conversation.current_prompt(draft)
    assert "٢٠٢٦-١٢-٠١ ٠٩:٠٥" in prompt.text and "2026" not in prompt.text


def test_a_future_date_in_arabic_digits_is_refused_kindly() -> None:
    conversation = _conversation()
    draft, effects = conversation.handle(_at_the_date(conversation), TextInput("٠١/٠١/٢٠٣٠"))
    assert draft is not None and "when" not in draft.answers
    [reply] = effects
    assert isinstance(reply, Reply)
    assert translations("ar").gettext("That date is in the future. Please check it.") in (
        reply.text)


def test_a_receipt_code_typed_in_arabic_digits_is_looked_up() -> None:
    status = StatusConversation(translations)
    _session, effects = status.begin("ar", "١٢٣٤-٥٦٧٨-٩٠١٢-٣٤٥٦-٧٨٩٠")
    assert LookUpCode("1234-5678-9012-3456-7890") in effects


def _at_the_date_in(conversation: Conversation, language: str) -> Draft:
    draft, _effects = conversation.handle(None, Start(language))
    draft = _press(conversation, draft, Action("consent", "yes"))
    draft = _press(conversation, draft, Action("choice", "other"))
    at_date, _effects = conversation.handle(draft, TextInput("x"))
    assert at_date is not None and at_date.current == "when"
    return at_date


def test_a_persian_date_is_shown_back_in_its_calendar_and_digits() -> None:
    """Typed in the Solar Hijri calendar: stored Gregorian, shown back as typed with the
    Gregorian date beside it; the Today button is shown the same way for a Persian witness."""
    assert "fa" in load_questionnaire().languages
    conversation = _conversation()
    answered, _effects = conversation.handle(_at_the_date_in(conversation, "fa"),
                                             TextInput("۱۴۰۵/۰۳/۱۰"))
    assert answered is not None
    assert answered.answers["when"] == DateAnswer(MAY_31, digits="۰", calendar="solar_hijri")
    draft = _press(conversation, answered, Action("back"))
    assert "۱۴۰۵-۰۳-۱۰ (۲۰۲۶-۰۵-۳۱)" in conversation.current_prompt(draft).text
    draft = _press(conversation, draft, Action("date", "today"))
    assert draft.answers["when"] == DateAnswer(TODAY, digits="۰", calendar="solar_hijri")
    draft = _press(conversation, draft, Action("back"))
    assert "۱۴۰۵-۰۹-۱۵ (۲۰۲۶-۱۲-۰۶)" in conversation.current_prompt(draft).text


def test_the_today_button_in_burmese_and_english() -> None:
    conversation = _conversation()
    for language, shown in (("my", "၂၀၂၆-၁၂-၀၆"), ("en", "2026-12-06"), ("ar", "2026-12-06")):
        draft = _press(conversation, _at_the_date_in(conversation, language),
                       Action("date", "today"))
        draft = _press(conversation, draft, Action("back"))
        assert shown in conversation.current_prompt(draft).text, language
