"""The conversation engine: events in, effects out; no Telegram, no database, no network.

The engine walks the witness through the questionnaire, keeps every answer in the Draft, and
answers any unexpected input with a short, kind re-prompt that loses nothing. When the witness
confirms the summary it emits SubmitRequested; the adapter seals and commits, and only then calls
`submitted` to produce the receipt message.
"""

from __future__ import annotations

import datetime as dt
import gettext
import re
import secrets
from collections.abc import Callable

from bot.core.draft import (
    Action,
    Answer,
    ChoiceAnswer,
    DateAnswer,
    Draft,
    MediaAnswer,
    MultiChoiceAnswer,
    Phase,
    PlaceAnswer,
    Skipped,
    TextAnswer,
)
from bot.core.events import (
    Cancel,
    ChooseLanguage,
    ClearChat,
    DraftClosed,
    Effect,
    Event,
    Forget,
    LocationInput,
    MediaInput,
    Press,
    Reply,
    Start,
    SubmitRequested,
    TextInput,
    Unsupported,
)
from bot.core.keyboard import PressProblem, render, resolve
from bot.core.questionnaire import Question, Questionnaire, QuestionType
from bot.core.summary import describe_answer, summarise

Translations = Callable[[str], gettext.NullTranslations]

# Two decimal places of a degree: about 1.1 km north-south, less east-west; enough to place an
# incident in a town or district without pinpointing the witness's doorstep.
_APPROXIMATE_DECIMALS = 2
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y")
_TIME = re.compile(r"(?P<h>[01]?\d|2[0-3])[:.](?P<m>[0-5]\d)")


class Conversation:
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

    # -- entry point -------------------------------------------------------------------------

    def handle(self, draft: Draft | None, event: Event) -> tuple[Draft | None, list[Effect]]:
        """Apply one event; returns the draft to keep (None: none) and what to do."""
        if isinstance(event, Forget):
            language = draft.language if draft else self.questionnaire.default_language
            _ = self._translations(language).gettext
            return None, [ClearChat(), DraftClosed(), Reply(_(
                "Deleted what the bot could. To be sure nothing is left, also delete this chat "
                "in Telegram."))]
        if isinstance(event, ChooseLanguage):
            if draft is None:
                draft, _effects = self._begin(None)
            return draft, [self._language_menu(draft)]
        if isinstance(event, Start):
            if draft is not None:
                _ = self._gettext(draft)
                return draft, [Reply(_("Welcome back. We continue where you left off.")),
                               self._prompt(draft)]
            return self._begin(event.language)
        if draft is None:
            return None, [self._no_draft_reply(event)]
        if isinstance(event, Cancel):
            return self._cancel(draft)
        if draft.phase is Phase.SUBMITTING:
            _ = self._gettext(draft)
            return draft, [Reply(_("Your report is being sent. Please wait a moment."))]
        if isinstance(event, Press):
            return self._press(draft, event.token)
        return draft, self._input(draft, event)

    def submitted(self, draft: Draft, receipt_code: str) -> list[Effect]:
        _ = self._gettext(draft)
        text = _(
            "Received. Thank you.\n\nYour receipt code is:\n{code}\n\n"
            "Keep it somewhere safe, or remember it: with /status and this code you can see "
            "the report's status, read questions from the reviewers and add to it. You can "
            "delete this message once you have noted the code."
        ).format(code=receipt_code)
        return [Reply(text), DraftClosed()]

    def submit_failed(self, draft: Draft, reason: str) -> list[Effect]:
        """Sealing or committing failed; the draft is intact and can be sent again."""
        draft.phase = Phase.SUMMARY
        _ = self._gettext(draft)
        messages = {
            "unavailable": _(
                "Sorry, reports cannot be received right now. Your answers are kept here for "
                "a while: please press Send again later."
            ),
            "file": _(
                "Sorry, one of your files could not be fetched. Your answers are kept: press "
                "Send to try again, or Edit to change the files."
            ),
            "limit": _(
                "This chat has sent as many reports today as one person can. Your answers are "
                "kept here for a while: please press Send again tomorrow."
            ),
        }
        text = messages.get(
            reason,
            _("Sorry, something went wrong while sending. Nothing is lost: press Send to try "
              "again."),
        )
        return [Reply(text), self._prompt(draft)]

    def edit_ignored(self, language: str) -> Reply:
        _ = self._translations(self._language(language)).gettext
        return Reply(_("Changes to messages you already sent are not picked up. To change an "
                       "answer, use Back, or Edit an answer on the summary."))

    def slow_down(self, language: str) -> Reply:
        _ = self._translations(self._language(language)).gettext
        return Reply(_("You are sending messages very quickly. Please wait a minute; "
                       "nothing you sent before is lost."))

    def already_received(self, language: str) -> Reply:
        _ = self._translations(self._language(language)).gettext
        return Reply(_("This report was already received. Thank you."))

    # -- starting, cancelling ----------------------------------------------------------------

    def _begin(self, language: str | None) -> tuple[Draft, list[Effect]]:
        chosen = self._language(language)
        draft = Draft(draft_id=secrets.token_hex(16), language=chosen)
        first = self._next_visible(draft, -1)
        assert first is not None, "a questionnaire has at least one question"
        self._ask(draft, first)
        return draft, [self._prompt(draft)]

    def _language(self, code: str | None) -> str:
        base = (code or "").split("-")[0].lower()
        return base if base in self.questionnaire.languages else self.questionnaire.default_language

    def _language_menu(self, draft: Draft) -> Reply:
        if draft.phase is not Phase.LANGUAGE_MENU:
            draft.resume_phase = draft.phase
        draft.phase = Phase.LANGUAGE_MENU
        self._new_prompt(draft)
        return self._prompt(draft)

    def _cancel(self, draft: Draft) -> tuple[None, list[Effect]]:
        _ = self._gettext(draft)
        text = _("Cancelled. Nothing was sent and your answers are deleted. "
                 "You can start again with /start.")
        return None, [Reply(text), DraftClosed()]

    def _no_draft_reply(self, event: Event) -> Reply:
        _ = self._translations(self.questionnaire.default_language).gettext
        if isinstance(event, Press):
            return Reply(_("That button belongs to a conversation that has ended. "
                           "Send /start to begin a new report."))
        return Reply(_("Hello. To report an incident, send /start."))

    # -- buttons -----------------------------------------------------------------------------

    def _press(self, draft: Draft, token: str) -> tuple[Draft | None, list[Effect]]:
        _ = self._gettext(draft)
        resolved = resolve(token, draft.prompt_nonce, draft.prompt_actions)
        if resolved is PressProblem.STALE:
            return draft, [Reply(_("That button belongs to an earlier question. Here is where "
                                   "we are now:")), self._prompt(draft)]
        if resolved is PressProblem.INVALID:
            return draft, [Reply(_("That button did not work. Please use the buttons below.")),
                           self._prompt(draft)]
        return self._act(draft, resolved)

    def _act(self, draft: Draft, action: Action) -> tuple[Draft | None, list[Effect]]:
        _ = self._gettext(draft)
        if action.kind == "cancel":
            return self._cancel(draft)
        if action.kind == "send":
            draft.phase = Phase.SUBMITTING
            return draft, [Reply(_("Sending…")), SubmitRequested()]
        if action.kind == "edit_menu":
            draft.phase = Phase.EDIT_MENU
            self._new_prompt(draft)
            return draft, [self._prompt(draft)]
        if action.kind == "summary":
            return draft, [self._to_summary(draft)]
        if action.kind == "edit":
            draft.editing = True
            self._ask(draft, self.questionnaire.question(action.value))
            return draft, [self._prompt(draft)]
        if action.kind == "language":
            if action.value in self.questionnaire.languages:
                draft.language = action.value
            draft.phase = draft.resume_phase
            self._new_prompt(draft)
            return draft, [self._prompt(draft)]
        if action.kind == "back":
            if draft.pending_location is not None:
                draft.pending_location = None
                return draft, [self._prompt(draft)]
            return draft, [self._back(draft)]
        question = self._current(draft)
        if question is None:
            return draft, [self._prompt(draft)]
        if action.kind == "consent":
            if action.value == "yes":
                return draft, [self._answered(draft, question, ChoiceAnswer("yes"))]
            return None, [Reply(_("Understood. Nothing was saved. If you want to report later, "
                                  "send /start.")), DraftClosed()]
        if action.kind == "skip" and not question.required:
            return draft, [self._answered(draft, question, Skipped())]
        if action.kind == "choice" and question.choice(action.value) is not None:
            return draft, [self._answered(draft, question, ChoiceAnswer(action.value))]
        if action.kind == "date":
            return draft, [self._answered(draft, question, self._date_button(action.value))]
        if action.kind == "tick" and question.choice(action.value) is not None:
            ticked = set(draft.ticked) ^ {action.value}
            draft.ticked = tuple(c.id for c in question.choices if c.id in ticked)
            return draft, [self._prompt(draft)]
        if action.kind == "ticked":
            if not draft.ticked:
                return draft, [Reply(_("Please tick at least one answer, then press Done.")),
                               self._prompt(draft)]
            return draft, [self._answered(draft, question, MultiChoiceAnswer(draft.ticked))]
        if action.kind == "location" and draft.pending_location is not None:
            latitude, longitude = draft.pending_location
            draft.pending_location = None
            approximate = action.value == "approximate"
            if approximate:
                latitude = round(latitude, _APPROXIMATE_DECIMALS)
                longitude = round(longitude, _APPROXIMATE_DECIMALS)
            place = PlaceAnswer(latitude=latitude, longitude=longitude, approximate=approximate)
            return draft, [self._answered(draft, question, place)]
        if action.kind == "done":
            answer = draft.answers.get(question.id)
            if isinstance(answer, MediaAnswer) and answer.files:
                return draft, [self._answered(draft, question, answer)]
            return draft, [Reply(_("No files were received yet. Send a file, or press Skip.")),
                           self._prompt(draft)]
        return draft, [self._prompt(draft)]

    def _date_button(self, value: str) -> DateAnswer:
        if value == "today":
            return DateAnswer(self._today())
        if value == "yesterday":
            return DateAnswer(self._today() - dt.timedelta(days=1))
        return DateAnswer(None)

    # -- typed and sent input ----------------------------------------------------------------

    def _input(self, draft: Draft, event: Event) -> list[Effect]:
        _ = self._gettext(draft)
        question = self._current(draft)
        if draft.phase is not Phase.ASKING or question is None:
            return [Reply(_("Please use the buttons below.")), self._prompt(draft)]
        if isinstance(event, Unsupported):
            return [Reply(_("Sorry, I cannot use that kind of message here.")),
                    self._prompt(draft)]
        kind = question.type
        if kind is QuestionType.TEXT and isinstance(event, TextInput):
            text = event.text.strip()
            if not text:
                return [Reply(_("The answer is empty. Please type a few words.")),
                        self._prompt(draft)]
            if len(text) > question.max_length:
                return [Reply(_("That is {length} characters; the limit here is {limit}. Please "
                                "shorten it, or split it and send the rest as a file.").format(
                                    length=len(text), limit=question.max_length))]
            return [self._answered(draft, question, TextAnswer(text))]
        if kind is QuestionType.DATE and isinstance(event, TextInput):
            parsed = self._parse_date(event.text)
            if parsed is None:
                return [Reply(_("I could not read that date. Please type it like 2024-05-31 or "
                                "31.05.2024, or use a button.")), self._prompt(draft)]
            if parsed.day is not None and parsed.day > self._today():
                return [Reply(_("That date is in the future. Please check it.")),
                        self._prompt(draft)]
            return [self._answered(draft, question, parsed)]
        if kind is QuestionType.PLACE and isinstance(event, TextInput):
            text = event.text.strip()
            if not text or len(text) > question.max_length:
                return [Reply(_("Please type the place in a few words (at most {limit} "
                                "characters).").format(limit=question.max_length))]
            return [self._answered(draft, question, PlaceAnswer(text=text))]
        if kind is QuestionType.PLACE and isinstance(event, LocationInput):
            draft.pending_location = (event.latitude, event.longitude)
            self._new_prompt(draft)
            return [self._prompt(draft)]
        if kind is QuestionType.MEDIA and isinstance(event, MediaInput):
            return self._add_media(draft, question, event)
        return [Reply(self._expectation(draft, question)), self._prompt(draft)]

    def _add_media(self, draft: Draft, question: Question, event: MediaInput) -> list[Effect]:
        _ = self._gettext(draft)
        current = draft.answers.get(question.id)
        files = current.files if isinstance(current, MediaAnswer) else ()
        refusals: list[str] = []
        for media in event.files:
            if media.size is not None and media.size > self.max_file_bytes:
                refusals.append(_(
                    "A file is {size} MB; the bot can receive files up to {limit} MB. Please "
                    "send a shorter or smaller version, or describe it in words. Everything "
                    "else you sent is kept."
                ).format(size=-(-media.size // 2**20), limit=self.max_file_bytes // 2**20))
            elif len(files) >= question.max_files:
                refusals.append(_("That is more files than one report can take ({limit}). "
                                  "Press Done to continue.").format(limit=question.max_files))
            elif sum(f.size or 0 for f in files) + (media.size or 0) > self.max_report_bytes:
                refusals.append(_("These files together are larger than one report can take "
                                  "({limit} MB). Press Done to continue.").format(
                                      limit=self.max_report_bytes // 2**20))
            else:
                files = (*files, media)
        if files:
            draft.answers[question.id] = MediaAnswer(files=files)
        # Same buttons as the question, without repeating its long text for every file.
        buttons = self._prompt(draft).buttons
        lines = list(dict.fromkeys(refusals))
        if len(refusals) < len(event.files):
            lines.append(_("Received {count} file(s). Send more, or press Done.").format(
                count=len(files)))
        return [Reply("\n\n".join(lines), buttons)]

    def _expectation(self, draft: Draft, question: Question) -> str:
        _ = self._gettext(draft)
        return {
            QuestionType.CONSENT: _("Please answer with one of the buttons below."),
            QuestionType.CHOICE: _("Please choose one of the buttons below."),
            QuestionType.MULTI: _("Please tick the answers with the buttons below, then Done."),
            QuestionType.TEXT: _("This question needs a typed answer."),
            QuestionType.DATE: _("Please type a date, or use a button."),
            QuestionType.PLACE: _("Please type a place, or share a location."),
            QuestionType.MEDIA: _("Please send a photo, video or document, or press Done."),
        }[question.type]

    def _parse_date(self, text: str) -> DateAnswer | None:
        parts = text.strip().split()
        if not parts or len(parts) > 2:
            return None
        for date_format in _DATE_FORMATS:
            try:
                day = dt.datetime.strptime(parts[0], date_format).date()
            except ValueError:
                continue
            if len(parts) == 1:
                return DateAnswer(day)
            match = _TIME.fullmatch(parts[1])
            return DateAnswer(day, dt.time(int(match["h"]), int(match["m"]))) if match else None
        return None

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

    def _prompt(self, draft: Draft, lead: str | None = None) -> Reply:
        _ = self._gettext(draft)
        rows: list[list[tuple[str, Action]]]
        if draft.phase in (Phase.SUMMARY, Phase.SUBMITTING):
            text = summarise(self, draft, _)
            rows = [[(_("Send"), Action("send"))],
                    [(_("Edit an answer"), Action("edit_menu"))],
                    [(_("Back"), Action("back")), (_("Cancel"), Action("cancel"))]]
        elif draft.phase is Phase.LANGUAGE_MENU:
            text = _("Choose a language:")
            rows = [[(name, Action("language", code))]
                    for code, name in self._language_names.items()
                    if code in self.questionnaire.languages]
        elif draft.phase is Phase.EDIT_MENU:
            text = _("Which answer do you want to change?")
            rows = [[(q.label.get(draft.language), Action("edit", q.id))]
                    for q, _a in self.visible_answers(draft) if q.type is not QuestionType.CONSENT]
            rows.append([(_("Back to the summary"), Action("summary"))])
        else:
            question = self.questionnaire.question(draft.current or "")
            text, rows = self._question_prompt(draft, question, _)
        if lead:
            text = f"{lead}\n\n{text}"
        buttons, draft.prompt_actions = render(rows, draft.prompt_nonce)
        return Reply(text, buttons)

    def _question_prompt(
        self, draft: Draft, question: Question, _: Callable[[str], str]
    ) -> tuple[str, list[list[tuple[str, Action]]]]:
        language = draft.language
        text = question.text.get(language)
        rows: list[list[tuple[str, Action]]] = []
        if draft.pending_location is not None:
            text = _("Send this location exactly, or only approximately (rounded to about 1 km)?")
            rows.append([(_("Approximate (about 1 km)"), Action("location", "approximate"))])
            rows.append([(_("Exact"), Action("location", "exact"))])
            rows.append([(_("Back"), Action("back")), (_("Cancel"), Action("cancel"))])
            return text, rows
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
        existing = draft.answers.get(question.id)
        if existing is not None and question.type is not QuestionType.MEDIA:
            text += "\n\n" + _("Current answer: {answer}").format(
                answer=describe_answer(question, existing, language, _))
        navigation: list[tuple[str, Action]] = []
        if question.type is not QuestionType.CONSENT:
            navigation.append((_("Back"), Action("back")))
        if not question.required:
            navigation.append((_("Skip"), Action("skip")))
        navigation.append((_("Cancel"), Action("cancel")))
        rows.append(navigation)
        return text, rows

    def _gettext(self, draft: Draft) -> Callable[[str], str]:
        return self._translations(draft.language).gettext
