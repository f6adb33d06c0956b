"""The conversation engine: events in, effects out; no Telegram, no database, no network.

The engine walks the witness through the questionnaire, keeps every answer in the Draft, and
answers any unexpected input with a short, kind re-prompt that loses nothing. When the witness
confirms the summary it emits SubmitRequested; the adapter seals and commits, and only then calls
`submitted` to produce the receipt message.

This module handles events and buttons; `bot/core/answers.py` handles typed and sent input, and
`bot/core/navigation.py` moving through the questions and rendering each prompt.
"""

from __future__ import annotations

import datetime as dt
import secrets

from bot.core.answers import AnswerInput
from bot.core.draft import (
    Action,
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
    Press,
    Reply,
    Start,
    SubmitRequested,
    heard_first,
)
from bot.core.keyboard import PressProblem, resolve
from bot.core.navigation import Translations
from bot.core.numerals import usual_writing

__all__ = ["Conversation", "Translations"]

# Two decimal places of a degree: about 1.1 km north-south, less east-west; enough to place an
# incident in a town or district without pinpointing the witness's doorstep.
_APPROXIMATE_DECIMALS = 2


class Conversation(AnswerInput):
    # -- entry point -------------------------------------------------------------------------

    def handle(
        self, draft: Draft | None, event: Event, language: str | None = None
    ) -> tuple[Draft | None, list[Effect]]:
        """Apply one event; returns the draft to keep (None: none) and what to do.

        `language`: the language this chat last used (chosen by the witness, or from
        Telegram), which replies without a draft keep: after /cancel a witness is not
        suddenly answered in English."""
        if isinstance(event, Forget):
            _ = self._translations(self._language(draft.language if draft else language)).gettext
            return None, [ClearChat(), DraftClosed(), Reply(_(
                "Deleted what the bot could. To be sure nothing is left, also delete this chat "
                "in Telegram."))]
        if isinstance(event, ChooseLanguage):
            if draft is None:
                draft, _effects = self._begin(language)
            return draft, [self._language_menu(draft)]
        if isinstance(event, Start):
            if draft is not None:
                _ = self._gettext(draft)
                return draft, [Reply(_("Welcome back. We continue where you left off.")),
                               self._prompt(draft)]
            return self._begin(language or event.language)
        if draft is None:
            return None, [self._no_draft_reply(event, language)]
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
        closing = self.questionnaire.closing
        if closing is not None:
            text = f"{text}\n\n{closing.get(draft.language)}"
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

    def _language_menu(self, draft: Draft) -> Reply:
        if draft.phase is not Phase.LANGUAGE_MENU:
            draft.resume_phase = draft.phase
        draft.phase = Phase.LANGUAGE_MENU
        self._new_prompt(draft)
        return self._prompt(draft)

    def _cancel(self, draft: Draft) -> tuple[Draft | None, list[Effect]]:
        """Cancel asks first; nothing is deleted until the witness presses Delete. With nothing
        answered yet there is nothing to lose, and it stops at once."""
        if not draft.answers:
            return self._cancelled(draft)
        self.interrupt(draft, Phase.CONFIRM_CANCEL)
        return draft, [self._prompt(draft)]

    def interrupt(self, draft: Draft, phase: Phase) -> None:
        """Ask something in between (Cancel's confirmation, a deep link's choice); `resume`
        comes back to where the witness was, the same prompt with fresh buttons."""
        if draft.phase not in (Phase.CONFIRM_CANCEL, Phase.CONFIRM_SWITCH, Phase.SUBMITTING):
            draft.interrupted_phase = draft.phase
        draft.phase = phase
        self._new_prompt(draft)

    def resume(self, draft: Draft, lead: str | None = None) -> Reply:
        draft.phase = draft.interrupted_phase
        draft.switch_to = None
        self._new_prompt(draft)
        return self._prompt(draft, lead=lead)

    def _cancelled(self, draft: Draft) -> tuple[None, list[Effect]]:
        _ = self._gettext(draft)
        text = _("Cancelled. Nothing was sent and your answers are deleted. "
                 "You can start again with /start.")
        return None, [Reply(text), DraftClosed()]

    def _no_draft_reply(self, event: Event, language: str | None) -> Reply:
        _ = self._translations(self._language(language)).gettext
        if isinstance(event, Press):
            return Reply(_("That button belongs to a conversation that has ended. "
                           "Send /start to begin a new report."))
        return Reply(_("Hello. To report an incident, send /start."))

    # -- buttons -----------------------------------------------------------------------------

    def _press(self, draft: Draft, token: str) -> tuple[Draft | None, list[Effect]]:
        _ = self._gettext(draft)
        resolved = resolve(token, draft.prompt_nonce, draft.prompt_actions)
        if resolved is PressProblem.STALE:
            return draft, [self._prompt(draft, lead=_(
                "That button belongs to an earlier question. Here is where we are now:"))]
        if resolved is PressProblem.INVALID:
            return draft, [self._prompt(draft, lead=_(
                "That button did not work. Please use the buttons below."))]
        return self._act(draft, resolved)

    def _act(self, draft: Draft, action: Action) -> tuple[Draft | None, list[Effect]]:
        _ = self._gettext(draft)
        if action.kind == "cancel":
            return self._cancel(draft)
        if action.kind == "cancel_confirmed":
            return self._cancelled(draft)
        if action.kind == "cancel_kept":
            return draft, [self.resume(draft, lead=_("Kept. Nothing was deleted."))]
        if action.kind == "switch":
            # "new" is the channels' to carry out (bot/core/channels.py); alone, continue.
            return draft, [self.resume(draft)]
        if action.kind == "send":
            draft.phase = Phase.SUBMITTING
            return draft, [SubmitRequested(_("Sending…"))]
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
        choice = question.choice(action.value)
        if action.kind == "choice" and choice is not None:
            following = self._answered(draft, question, ChoiceAnswer(action.value))
            if choice.reply is None:
                return draft, [following]
            return draft, [*heard_first(choice.reply.get(draft.language), following)]
        if action.kind == "keep":
            kept = draft.answers.get(question.id)
            if isinstance(kept, (TextAnswer, DateAnswer, PlaceAnswer)):
                return draft, [self._answered(draft, question, kept)]
        if action.kind == "date":
            return draft, [self._answered(
                draft, question, self._date_button(action.value, draft.language))]
        if action.kind == "tick" and choice is not None:
            ticked = set(draft.ticked) ^ {action.value}
            draft.ticked = tuple(c.id for c in question.choices if c.id in ticked)
            return draft, [self._prompt(draft)]
        if action.kind == "ticked":
            if not draft.ticked:
                return draft, [self._prompt(draft, lead=_(
                    "Please tick at least one answer, then press Done."))]
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
            if isinstance(answer, MediaAnswer) and (answer.files or answer.note):
                return draft, [self._answered(draft, question, answer)]
            return draft, [self._prompt(draft, lead=_(
                "No files were received yet. Send a file, or press Skip."))]
        return draft, [self._prompt(draft)]

    def _date_button(self, value: str, language: str) -> DateAnswer:
        """Today or Yesterday, shown back as the language usually writes dates (Persian digits
        and the Solar Hijri calendar for fa and ps, Myanmar digits for my)."""
        digits, calendar = usual_writing(language)
        if value == "today":
            return DateAnswer(self._today(), digits=digits, calendar=calendar)
        if value == "yesterday":
            return DateAnswer(self._today() - dt.timedelta(days=1), digits=digits,
                              calendar=calendar)
        return DateAnswer(None)
