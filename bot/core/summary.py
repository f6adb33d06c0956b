"""Human-readable rendering of answers, for the summary the witness confirms."""

from __future__ import annotations

import gettext
from collections import Counter

from bot.core.draft import (
    Answer,
    ChoiceAnswer,
    DateAnswer,
    MediaAnswer,
    MultiChoiceAnswer,
    PlaceAnswer,
    Skipped,
    TextAnswer,
)
from bot.core.numerals import SOLAR_HIJRI, in_script, solar_hijri
from bot.core.questionnaire import Question, QuestionType

_PREVIEW = 200
# The comma and semicolon between listed items, as the language's script writes them: Arabic
# script (read right to left) ، ؛, Burmese ၊, Amharic ፣ ፤; the Latin ones elsewhere.
_LIST_MARKS = {"ar": ("، ", "؛ "), "fa": ("، ", "؛ "), "ps": ("، ", "؛ "), "my": ("၊ ", "၊ "),
               "am": ("፣ ", "፤ ")}


def list_marks(language: str) -> tuple[str, str]:
    """(comma, semicolon) with their space, for joining listed items in `language`."""
    return _LIST_MARKS.get(language, (", ", "; "))


def describe_answer(
    question: Question, answer: Answer, language: str, catalog: gettext.NullTranslations
) -> str:
    _ = catalog.gettext
    if isinstance(answer, Skipped):
        return _("(skipped)")
    if isinstance(answer, ChoiceAnswer):
        if question.type is QuestionType.CONSENT:
            return _("yes")
        choice = question.choice(answer.choice_id)
        return choice.text.get(language) if choice else answer.choice_id
    if isinstance(answer, MultiChoiceAnswer):
        chosen = [question.choice(c) for c in answer.choice_ids]
        return list_marks(language)[0].join(c.text.get(language) for c in chosen if c is not None)
    if isinstance(answer, TextAnswer):
        return _preview(answer.text)
    if isinstance(answer, DateAnswer):
        if answer.day is None:
            return _("not known")
        return shown_date(answer)
    if isinstance(answer, PlaceAnswer):
        if answer.text is not None:
            return answer.text
        if answer.approximate:
            return _("approximate location ({latitude:.2f}, {longitude:.2f})").format(
                latitude=answer.latitude, longitude=answer.longitude
            )
        return _("exact location ({latitude:.5f}, {longitude:.5f})").format(
            latitude=answer.latitude, longitude=answer.longitude
        )
    parts = [describe_files(answer, catalog, language)] if answer.files else []
    if answer.note:
        parts.append(_("your note: {note}").format(note=_preview(answer.note)))
    return list_marks(language)[1].join(parts)


def shown_date(answer: DateAnswer) -> str:
    """The date as the witness gave it: in their digits, and in the Solar Hijri calendar with
    the Gregorian date stored beside it when they typed it so (bot/core/numerals.py)."""
    assert answer.day is not None
    shown = answer.day.isoformat()
    if answer.calendar == SOLAR_HIJRI:
        shown = f"{solar_hijri(answer.day)} ({shown})"
    if answer.time is not None:
        shown = f"{shown} {answer.time:%H:%M}"
    return in_script(shown, answer.digits)


def describe_files(
    answer: MediaAnswer, catalog: gettext.NullTranslations, language: str = "en"
) -> str:
    """"2 documents, 1 photo": each kind counted once, in the language's own plural forms."""
    ngettext = catalog.ngettext
    counts = Counter(f.kind for f in answer.files)
    described = []
    for kind, count in sorted(counts.items()):
        if kind == "photo":
            text = ngettext("{count} photo", "{count} photos", count)
        elif kind == "video":
            text = ngettext("{count} video", "{count} videos", count)
        elif kind == "voice":
            text = ngettext("{count} voice note", "{count} voice notes", count)
        elif kind == "audio":
            text = ngettext("{count} audio file", "{count} audio files", count)
        elif kind == "document":
            text = ngettext("{count} document", "{count} documents", count)
        else:
            text = ngettext("{count} file", "{count} files", count)
        described.append(text.format(count=count))
    return list_marks(language)[0].join(described)


def summarise(
    answers: list[tuple[Question, Answer]], language: str, catalog: gettext.NullTranslations
) -> str:
    """Every answer that will be sent, one line each; files are counted on their own line."""
    _ = catalog.gettext
    lines = [_("Please check your report. This is everything that will be sent:"), ""]
    for question, answer in answers:
        if question.type is QuestionType.CONSENT:
            continue
        label = question.label.get(language)
        lines.append(f"• {label}: {describe_answer(question, answer, language, catalog)}")
    return "\n".join(lines)


def _preview(text: str) -> str:
    return text if len(text) <= _PREVIEW else text[:_PREVIEW] + "…"
