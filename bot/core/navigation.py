"""Where the witness stands in the questionnaire, and the prompt that shows it.

The base of the conversation engine (`bot/core/conversation.py` handles events, and
`bot/core/answers.py` typed and sent input): moving forward and Back through the visible
questions, the summary, and rendering each prompt with its buttons. No I/O.
"""

from __future__ import annotations

import datetime as dt
import gettext
import secrets
import sys
from collections.abc import Callable

from bot.core.draft import (
    Action,
    Answer,
    ChoiceAnswer,
    DateAnswer,
    Draft,
    MultiChoiceAnswer,
    Phase,
    PlaceAnswer,
    TextAnswer,
)
from bot.core.events import Reply
from bot.core.keyboard import render
from bot.core.questionnaire import Question, Questionnaire, QuestionType
from bot.core.summary import describe_answer, summarise

Translations = Callable[[str], gettext.NullTranslations]
Rows = list[list[tuple[str, Action]]]

# Answers that take typing to give again: going Back to them offers "Keep this answer".
_RETYPED = (TextAnswer, DateAnswer, PlaceAnswer)


class ConversationBase:
    def __init__(
        self,
        questionnaire: Questionnaire,
        translations: Translations,
        *,
        today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date(),
        new_token: Callable[[], str] = lambda: secrets.token_hex(4),
        max_file_bytes: int = 20 * 1024 * 1024,
        max_report_bytes: int = 200 * 1024 * 1024,
        language_names: dict[str, str] | None = None,
    ) -> None:
        self.max_file_bytes = max_file_bytes
        self.max_report_bytes = max_report_bytes
        self._language_names = language_names or {q: q for q in questionnaire.languages}
        self.questionnaire = questionnaire
        self._translations = translations
        self._today = today
        self._new_token = new_token

    # -- moving through the questionnaire ----------------------------------------------------

    def _answered(self, draft: Draft, question: Question, answer: Answer) -> Reply:
        draft.answers[question.id] = answer
        if draft.editing:
            pending = self._first_unanswered(draft)
            if pending is None:
                return self._to_summary(draft)
            self._ask(draft, pending)
            return self._prompt(draft)
        following = self._next_visible(draft, self.questionnaire.index(question.id))
        draft.history.append(question.id)
        if following is None:
            return self._to_summary(draft)
        self._ask(draft, following)
        return self._prompt(draft)

    def _back(self, draft: Draft) -> Reply:
        _ = self._gettext(draft)
        if draft.phase is Phase.EDIT_MENU or draft.editing:
            return self._to_summary(draft)
        if draft.phase is Phase.SUMMARY:
            last = draft.history.pop() if draft.history else None
            if last is not None:
                self._ask(draft, self.questionnaire.question(last))
            return self._prompt(draft)
        if not draft.history:
            return self._prompt(draft, lead=_("This is the first question."))
        self._ask(draft, self.questionnaire.question(draft.history.pop()))
        return self._prompt(draft)

    def _visible(self, draft: Draft, question: Question) -> bool:
        condition = question.show_if
        if condition is None:
            return True
        answer = draft.answers.get(condition.question)
        if isinstance(answer, MultiChoiceAnswer):
            return not condition.any_of.isdisjoint(answer.choice_ids)
        return isinstance(answer, ChoiceAnswer) and answer.choice_id in condition.any_of

    def _next_visible(self, draft: Draft, after: int) -> Question | None:
        for question in self.questionnaire.questions[after + 1 :]:
            if self._visible(draft, question):
                return question
        return None

    def _first_unanswered(self, draft: Draft) -> Question | None:
        for question in self.questionnaire.questions:
            if self._visible(draft, question) and question.id not in draft.answers:
                return question
        return None

    def _current(self, draft: Draft) -> Question | None:
        if draft.phase is not Phase.ASKING or draft.current is None:
            return None
        return self.questionnaire.question(draft.current)

    def _ask(self, draft: Draft, question: Question) -> None:
        draft.phase = Phase.ASKING
        draft.current = question.id
        draft.pending_location = None
        existing = draft.answers.get(question.id)
        draft.ticked = existing.choice_ids if isinstance(existing, MultiChoiceAnswer) else ()
        self._new_prompt(draft)

    def _to_summary(self, draft: Draft) -> Reply:
        draft.phase = Phase.SUMMARY
        draft.editing = False
        draft.current = None
        self._new_prompt(draft)
        return self._prompt(draft)

    def _new_prompt(self, draft: Draft) -> None:
        draft.prompt_nonce = self._new_token()

    # -- rendering ---------------------------------------------------------------------------

    def visible_answers(self, draft: Draft) -> list[tuple[Question, Answer]]:
        """The answers that will be sent: those of questions still shown, in order."""
        return [
            (q, draft.answers[q.id])
            for q in self.questionnaire.questions
            if q.id in draft.answers and self._visible(draft, q)
        ]

    def current_prompt(self, draft: Draft, lead: str | None = None) -> Reply:
        """The prompt where the draft stands (for bot/core/channels.py)."""
        return self._prompt(draft, lead)

    def _prompt(self, draft: Draft, lead: str | None = None) -> Reply:
        """The current prompt with its buttons; `lead` (a reminder, a refusal) goes first, in
        the same message, so a hurried reader sees why the question came back.

        Cancel is always the last row, alone, on every prompt: a thumb that learnt where it is
        never finds it somewhere else. Its confirmation puts "Keep it" in that very place, so
        a second tap there keeps the report."""
        _ = self._gettext(draft)
        rows: Rows
        if draft.phase is Phase.CONFIRM_CANCEL:
            text = _("Delete this report? Nothing has been sent yet. If you delete it, your "
                     "answers are gone.")
            rows = [[(_("Delete it"), Action("cancel_confirmed"))],
                    [(_("Keep it"), Action("cancel_kept"))]]
            return self._rendered(draft, text, rows, lead)
        if draft.phase is Phase.CONFIRM_SWITCH:
            text = _("You followed a link to another organisation, and a report is still open "
                     "here. Continue it, or start a new report for that organisation? A new "
                     "one deletes the open report's answers.")
            rows = [[(_("Continue my report"), Action("switch", "continue"))],
                    [(_("Start a new report"), Action("switch", "new"))]]
        elif draft.phase in (Phase.SUMMARY, Phase.SUBMITTING):
            text = summarise(self.visible_answers(draft), draft.language, self._catalog(draft))
            rows = [[(_("Send"), Action("send"))],
                    [(_("Edit an answer"), Action("edit_menu"))],
                    [(_("Back"), Action("back"))]]
        elif draft.phase is Phase.LANGUAGE_MENU:
            text = _("Choose a language:")
            offered = [(name, Action("language", code))
                       for code, name in self._language_names.items()
                       if code in self.questionnaire.languages]
            # Two to a row, so that twelve languages fit on one screen of a small phone.
            rows = [offered[i:i + 2] for i in range(0, len(offered), 2)]
        elif draft.phase is Phase.EDIT_MENU:
            text = _("Which answer do you want to change?")
            rows = [[(q.label.get(draft.language), Action("edit", q.id))]
                    for q, _a in self.visible_answers(draft) if q.type is not QuestionType.CONSENT]
            rows.append([(_("Back to the summary"), Action("summary"))])
        else:
            question = self.questionnaire.question(draft.current or "")
            text, rows = self._question_prompt(draft, question)
        rows.append([(_("Cancel"), Action("cancel"))])
        return self._rendered(draft, text, rows, lead)

    def _rendered(self, draft: Draft, text: str, rows: Rows, lead: str | None) -> Reply:
        if lead:
            text = f"{lead}\n\n{text}"
        buttons, draft.prompt_actions = render(rows, draft.prompt_nonce)
        return Reply(text, buttons)

    def _question_prompt(self, draft: Draft, question: Question) -> tuple[str, Rows]:
        _ = self._gettext(draft)
        language = draft.language
        text = question.text.get(language)
        rows: Rows = []
        if draft.pending_location is not None:
            text = _("Send this location exactly, or only approximately (rounded to about 1 km)?")
            rows.append([(_("Approximate (about 1 km)"), Action("location", "approximate"))])
            rows.append([(_("Exact"), Action("location", "exact"))])
            rows.append([(_("Back"), Action("back"))])
            return text, rows
        existing = draft.answers.get(question.id)
        if question.type is QuestionType.CONSENT:
            rows.append([(_("Yes, continue"), Action("consent", "yes")),
                         (_("No, stop"), Action("consent", "no"))])
        elif question.type is QuestionType.MULTI:
            rows.extend([(("✓ " if c.id in draft.ticked else "") + c.text.get(language),
                          Action("tick", c.id))] for c in question.choices)
            rows.append([(_("Done"), Action("ticked"))])
        elif question.type is QuestionType.CHOICE:
            rows.extend([(c.text.get(language), Action("choice", c.id))]
                        for c in question.choices)
        elif question.type is QuestionType.DATE:
            rows.append([(_("Today"), Action("date", "today")),
                         (_("Yesterday"), Action("date", "yesterday"))])
            rows.append([(_("I don't know"), Action("date", "unknown"))])
        elif question.type is QuestionType.MEDIA:
            rows.append([(_("Done"), Action("done"))])
            if not draft.media_notice_shown:
                draft.media_notice_shown = True
                text += "\n\n" + _("Files sent as documents keep their camera and location "
                                   "details. They are stored encrypted, for the reviewers; for "
                                   "photos we also keep a copy without those details.")
        if existing is not None and question.type is not QuestionType.MEDIA:
            text += "\n\n" + _("Current answer: {answer}").format(
                answer=describe_answer(question, existing, language, self._catalog(draft)))
        if isinstance(existing, _RETYPED):
            rows.append([(_("Keep this answer"), Action("keep"))])
        navigation: list[tuple[str, Action]] = []
        if question.type is not QuestionType.CONSENT:
            navigation.append((_("Back"), Action("back")))
        if not question.required:
            navigation.append((_("Skip"), Action("skip")))
        if navigation:
            rows.append(navigation)
        return text, rows

    def _catalog(self, draft: Draft) -> gettext.NullTranslations:
        return self._translations(draft.language)

    def _gettext(self, draft: Draft) -> Callable[[str], str]:
        return self._translations(draft.language).gettext

    def gettext_for(self, code: str | None) -> Callable[[str], str]:
        """The catalog's gettext for a language code the witness's Telegram reports."""
        return self._translations(self._language(code)).gettext

    def language_for(self, code: str | None) -> str:
        return self._language(code)

    def _language(self, code: str | None) -> str:
        base = (code or "").split("-")[0].lower()
        if base not in self.questionnaire.languages:
            return self.questionnaire.default_language
        # One string per language, not one per witness: the day's flood counters keep it.
        return sys.intern(base)
