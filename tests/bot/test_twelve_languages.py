"""Issue 22, must show: a witness in each of the twelve languages reports through the real
python-telegram-bot stack against the Bot API stand-in, with a photo, a shared location and a
date typed in their own digits, through an error and a /cancel they take back, and no English
reaches them (nor anything left in another script)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from bot.core import DEFAULT_QUESTIONNAIRE, load_questionnaire
from bot.i18n import LANGUAGE_NAMES, RIGHT_TO_LEFT, SUPPORTED_LANGUAGES, translations
from review.queue import list_reports, open_report
from standin.client import FakeUser
from standin.models import BotMessage
from storage import default_sqlite_url
from tests.bot.harness import Harness, receipt_code, running_harness
from tests.support import migrated_sqlite_file

BOT_DIR = Path(__file__).resolve().parents[2] / "bot"
QUESTIONNAIRE = load_questionnaire(DEFAULT_QUESTIONNAIRE)
JPEG = b"\xff\xd8\xff" + b"scene" * 40 + b"\xff\xd9"

# Telegram's language_code as phones in each place send it (regional variants included).
TELEGRAM_CODES = {"en": "en-GB", "uk": "uk-UA", "ru": "ru", "ar": "ar-EG", "es": "es-MX",
                  "fr": "fr-CA", "fa": "fa-IR", "ps": "ps-AF", "my": "my-MM", "am": "am-ET",
                  "sw": "sw-KE", "tr": "tr-TR"}
# 14 March 2026 as a witness of each language types it: their digits, their order. The Persian
# witness dates it in the Solar Hijri calendar (23 Esfand 1404); the Amharic one in Ethiopic
# numerals, which have no zero and are not positional.
TYPED_DATES = {"en": "14/03/2026", "uk": "14.03.2026", "ru": "14.03.2026", "es": "14/03/2026",
               "fr": "14/03/2026", "tr": "14.03.2026", "sw": "14/03/2026",
               "ar": "١٤/٠٣/٢٠٢٦", "fa": "۱۴۰۴/۱۲/۲۳", "ps": "۱۴/۰۳/۲۰۲۶", "my": "၁၄-၀၃-၂၀၂၆",
               "am": "፲፬/፫/፳፻፳፮"}
# A date that does not exist (31 February), in the same digits: an error the witness meets.
NO_SUCH_DATES = {**dict.fromkeys(("en", "uk", "ru", "es", "fr", "tr", "sw"), "31.02.2026"),
                 "ar": "٣١/٠٢/٢٠٢٦", "fa": "۳۱/۰۲/۲۰۲۶", "ps": "۳۱/۰۲/۲۰۲۶", "my": "၃၁-၀၂-၂၀၂၆",
                 "am": "፴፩/፪/፳፻፳፮"}
# How the summary shows that date back: in the digits it was typed in (and, for the Solar
# Hijri date, with the Gregorian date stored beside it).
SHOWN_DATES = {**dict.fromkeys(("en", "uk", "ru", "es", "fr", "tr", "sw"), "2026-03-14"),
               "ar": "٢٠٢٦-٠٣-١٤", "fa": "۱۴۰۴-۱۲-۲۳ (۲۰۲۶-۰۳-۱۴)", "ps": "۲۰۲۶-۰۳-۱۴",
               "my": "၂၀၂၆-၀၃-၁၄", "am": "፳፻፳፮-፫-፲፬"}
WORDS = {"en": "Soldiers took my neighbour at night.", "uk": "Вночі забрали мого сусіда.",
         "ru": "Ночью забрали моего соседа.", "ar": "أخذوا جاري في الليل.",
         "es": "Se llevaron a mi vecino de noche.", "fr": "Ils ont emmené mon voisin la nuit.",
         "fa": "شب همسایه‌ام را بردند.", "ps": "د شپې زما ګاونډی یې بوت.",
         "my": "ညက ကျွန်ုပ်၏ အိမ်နီးချင်းကို ခေါ်သွားသည်။", "am": "ማታ ጎረቤቴን ወሰዱት።",
         "sw": "Walimchukua jirani yangu usiku.", "tr": "Gece komşumu götürdüler."}
# The whole script of each language not written in Latin letters: every message and button
# label must have some of it (the Latin-script languages are checked for English instead).
SCRIPTS = {"uk": re.compile("[\u0400-\u04FF]"), "ru": re.compile("[\u0400-\u04FF]"),
           **dict.fromkeys(("ar", "fa", "ps"), re.compile("[\u0600-\u06FF]")),
           "my": re.compile("[\u1000-\u109F]"), "am": re.compile("[\u1200-\u137F]")}
# Between two ticked answers in the summary: the script's own comma.
LIST_COMMAS = {"ar": "، ", "fa": "، ", "ps": "، ", "my": "၊ ", "am": "፣ "}
_PLACEHOLDER = re.compile(r"\{[a-z_]+(?::[^}]*)?\}")


def _english() -> tuple[set[str], set[str]]:
    """Pieces of English the bot could show: every source message split at its placeholders,
    and every English text of the questionnaire. Returns (pieces of two words or more, which no
    other language shares as "video" or "documents" are shared; every whole text, for button
    labels)."""
    found = extract_from_dir(str(BOT_DIR), method_map=[("**.py", "python")],
                             keywords={"_": None, "ngettext": (1, 2)})
    whole: set[str] = set()
    for _filename, _line, message, _comments, _context in found:
        whole.update(message if isinstance(message, tuple) else (message,))
    for question in QUESTIONNAIRE.questions:
        whole.update([question.text.get("en"), question.label.get("en"),
                      *(c.text.get("en") for c in question.choices),
                      *(c.reply.get("en") for c in question.choices if c.reply is not None)])
    pieces = {piece.strip() for text in whole for piece in _PLACEHOLDER.split(text)}
    return {piece for piece in pieces if " " in piece and len(piece) >= 8}, whole


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    """A real SQLite store only: the language does not depend on the store, and twelve whole
    reports twice over would only double the time (both stores run every other bot test)."""
    await migrated_sqlite_file(tmp_path / "data" / "intake.db")
    return default_sqlite_url(tmp_path / "data")


def _own_texts(language: str) -> set[str]:
    """The button labels the language itself has: the catalog's and the questionnaire's."""
    _ = translations(language).gettext
    _english_pieces, english = _english()
    texts = {_(text) for text in english}
    for question in QUESTIONNAIRE.questions:
        texts.update(c.text.get(language) for c in question.choices)
    return texts


class Witness:
    """A FakeUser that keeps every message and button the bot showed it, and presses buttons
    by their label in its own language."""

    def __init__(self, user: FakeUser, language: str) -> None:
        self.user = user
        self.language = language
        self.seen: list[BotMessage] = []
        self.callback_queries: list[str] = []
        self._ = translations(language).gettext

    async def replies(self, count: int = 1) -> list[str]:
        messages = [await self.user.next_bot_message(timeout=15) for _ in range(count)]
        self.seen += messages
        return [m.text for m in messages]

    async def press(self, label: str, count: int = 1) -> list[str]:
        for message in reversed(self.user.bot_messages()):
            data = [d for row in message.buttons for text, d in row if text == label]
            if data:
                self.callback_queries.append(await self.user.press(data[0]))
                return await self.replies(count)
        raise AssertionError(f"{self.language}: no button {label!r} on screen")

    async def choose(self, question: str, choice: str) -> list[str]:
        found = QUESTIONNAIRE.question(question).choice(choice)
        assert found is not None
        return await self.press(found.text.get(self.language))


async def _report(h: Harness, language: str) -> tuple[Witness, str]:
    witness = Witness(h.user(8_220_000 + SUPPORTED_LANGUAGES.index(language),
                             language_code=TELEGRAM_CODES[language]), language)
    _ = witness._
    await witness.user.send_command("start")
    await witness.replies()
    await witness.press(_("Yes, continue"))
    await witness.user.send_sticker()                      # an error: not an answer here
    await witness.replies()
    await witness.choose("category", "violence")
    await witness.user.send_text(WORDS[language])
    await witness.replies()
    await witness.user.send_text(NO_SUCH_DATES[language])  # an error: no such date
    await witness.replies()
    await witness.user.send_text(TYPED_DATES[language])
    await witness.replies()
    await witness.user.send_location(50.4501, 30.5234)
    await witness.replies()
    await witness.press(_("Approximate (about 1 km)"))
    await witness.choose("affected", "known")
    await witness.choose("affected", "children")
    await witness.press(_("Done"))
    await witness.user.send_command("cancel")               # then taken back: nothing lost
    await witness.replies()
    await witness.press(_("Keep it"))
    await witness.press(_("Skip"))                           # who did it
    await witness.user.send_photo(JPEG)
    await witness.replies()
    await witness.press(_("Done"))
    await witness.choose("safe_now", "yes")
    (summary,) = await witness.choose("contact", "no")
    assert SHOWN_DATES[language] in summary, summary
    assert WORDS[language] in summary
    affected = QUESTIONNAIRE.question("affected")
    ticked = [affected.choice(c) for c in ("known", "children")]
    assert LIST_COMMAS.get(language, ", ").join(
        c.text.get(language) for c in ticked if c is not None) in summary, summary
    (receipt,) = await witness.press(_("Send"))
    code = receipt_code(receipt)
    # After the report: a /cancel with nothing open, and a stray message, in the same language.
    await witness.user.send_command("cancel")
    await witness.replies()
    await witness.user.send_text("?")
    await witness.replies()
    return witness, code


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
async def test_a_whole_report_in_each_language(
    language: str, database_url: str, tmp_path: Path
) -> None:
    async with running_harness(database_url, tmp_path / "data") as h:
        witness, code = await _report(h, language)
        answers = [h.standin.callback_answer(query) or {} for query in witness.callback_queries]
        [row] = await list_reports(h.storage)
        report = await open_report(h.storage, row.report_id, [h.reviewer])

    texts = [m.text for m in witness.seen]
    texts += [str(answer["text"]) for answer in answers if answer.get("text")]
    labels = [label for m in witness.seen for row_ in m.buttons for label, _data in row_]
    assert len(texts) >= 18 and len(labels) >= 20
    if language != "en":
        english_pieces, english_texts = _english()
        leaked = [t for t in texts if any(piece in t for piece in english_pieces)]
        assert not leaked, f"{language}: English in {leaked[:2]}"
        # A button may read as in English only where the language says it so ("No" in Spanish).
        own = _own_texts(language)
        english_labels = [label for label in labels if label in english_texts - own]
        assert not english_labels, f"{language}: English buttons {english_labels}"
    if language in SCRIPTS:
        foreign = [t for t in texts + labels if not SCRIPTS[language].search(t)]
        assert not foreign, f"{language}: not in its script: {foreign[:3]}"

    if language in RIGHT_TO_LEFT:
        # Telegram lays out each line by its first letter: all of them read right to left.
        ltr = [line for t in texts for line in t.splitlines()
               if [d for d in map(unicodedata.bidirectional, line) if d in ("L", "R", "AL")][:1]
               == ["L"]]
        assert not ltr, f"{language}: lines laid out left to right: {ltr[:3]}"

    # Sealed as answered: the language, the date normalised, the place, the photo.
    assert report.document["language"] == language
    answered = {a["question"]: a for a in report.document["answers"]}
    assert answered["when"]["date"] == "2026-03-14"
    assert answered["what"]["text"] == WORDS[language]
    assert answered["where"]["approximate"] is True
    assert round(answered["where"]["latitude"], 1) == 50.5
    assert answered["evidence"]["files"] == 1
    assert [a["kind"] for a in report.document["attachments"]] == ["photo"]
    assert len(code.replace("-", "")) == 20


async def test_the_language_menu_names_every_language_in_itself(
    database_url: str, tmp_path: Path
) -> None:
    """/language offers the twelve languages by their own names, two to a row, whatever language
    is showing, then Cancel; each switches the conversation."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = Witness(h.user(8_229_999, language_code="de"), "en")
        await witness.user.send_command("start")
        await witness.replies()
        for language in SUPPORTED_LANGUAGES:
            await witness.user.send_command("language")
            await witness.replies()
            menu = witness.seen[-1]
            names = [label for row in menu.buttons[:-1] for label, _data in row]
            assert names == list(LANGUAGE_NAMES.values())
            # Two to a row (one screen on a small phone), then Cancel in its usual place.
            assert [len(row) for row in menu.buttons] == [2] * 6 + [1]
            (question,) = await witness.press(LANGUAGE_NAMES[language])
            assert QUESTIONNAIRE.question("safety").text.get(language) in question
