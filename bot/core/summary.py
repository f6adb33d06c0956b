"""Human-readable rendering of answers, for the summary the witness confirms."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.core.draft import (
    Answer,
    ChoiceAnswer,
    DateAnswer,
    Draft,
    MediaAnswer,
    MultiChoiceAnswer,
    PlaceAnswer,
    Skipped,
    TextAnswer,
)
from bot.core.questionnaire import Question, QuestionType

if TYPE_CHECKING:
    from bot.core.conversation import Conversation

_PREVIEW = 200


def describe_answer(
    question: Question, answer: Answer, language: str, _: Callable[[str], str]
) -> str:
    if isinstance(answer, Skipped):
        return _("(skipped)")
    if isinstance(answer, ChoiceAnswer):
        if question.type is QuestionType.CONSENT:
            return _("yes")
        choice = question.choice(answer.choice_id)
        return choice.text.get(language) if choice else answer.choice_id
    if isinstance(answer, MultiChoiceAnswer):
        chosen = [question.choice(c) for c in answer.choice_ids]
        return ", ".join(c.text.get(language) for c in chosen if c is not None)
    if isinstance(answer, TextAnswer):
        text = answer.text
        return text if len(text) <= _PREVIEW else text[:_PREVIEW] + "…"
    if isinstance(answer, DateAnswer):
        if answer.day is None:
            return _("not known")
        shown = answer.day.isoformat()
        return f"{shown} {answer.time:%H:%M}" if answer.time else shown
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
    kinds = Counter(f.kind for f in answer.files)
    names = {
        "photo": _("photo(s)"),
        "video": _("video(s)"),
        "voice": _("voice note(s)"),
        "audio": _("audio file(s)"),
        "document": _("document(s)"),
    }
    return ", ".join(f"{count} {names.get(kind, kind)}" for kind, count in sorted(kinds.items()))


def summarise(conversation: Conversation, draft: Draft, _: Callable[[str], str]) -> str:
    lines = [_("Please check your report. This is everything that will be sent:"), ""]
    for question, answer in conversation.visible_answers(draft):
        if question.type is QuestionType.CONSENT:
            continue
        label = question.label.get(draft.language)
        lines.append(f"• {label}: {describe_answer(question, answer, draft.language, _)}")
    files = sum(
        len(a.files) for _q, a in conversation.visible_answers(draft) if isinstance(a, MediaAnswer)
    )
    lines += ["", _("Files attached: {count}").format(count=files)]
    return "\n".join(lines)
