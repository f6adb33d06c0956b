"""Issue 22, items 1 and 3 in the pure core: a Cancel that asks once and always sits in the same
place, and a deep link during an open report that asks which report to go on with."""

from __future__ import annotations

import copy
import datetime as dt
import itertools

import pytest

from bot.core import (
    DEFAULT_QUESTIONNAIRE,
    Cancel,
    ChooseLanguage,
    Conversation,
    Draft,
    DraftClosed,
    Effect,
    LocationInput,
    MediaInput,
    MediaRef,
    Phase,
    Press,
    Reply,
    Start,
    TextInput,
    load_questionnaire,
)
from bot.core.channels import ChannelConversations, ChannelEntry
from bot.core.draft import Action
from bot.core.questionnaire import QuestionType
from bot.i18n import translations

TODAY = dt.date(2026, 11, 24)
LANGUAGES = load_questionnaire().languages


def _conversation() -> Conversation:
    counter = itertools.count()
    return Conversation(load_questionnaire(), translations, today=lambda: TODAY,
                        new_token=lambda: f"n{next(counter)}",
                        language_names={code: code for code in LANGUAGES})


class Witness:
    """Drives the core by button *action* (not label), so it works in every language, and
    checks every prompt it is shown for Cancel's place."""

    def __init__(self, router: Conversation | ChannelConversations, language: str) -> None:
        self.router = router
        self.language = language
        self.draft: Draft | None = None
        self.effects: list[Effect] = []
        self.prompts_seen: list[tuple[Phase, str | None, tuple[tuple[str, ...], ...]]] = []

    def send(self, event: object) -> list[Effect]:
        self.draft, self.effects = self.router.handle(self.draft, event)  # type: ignore[arg-type]
        for effect in self.effects:
            if isinstance(effect, Reply) and effect.buttons and self.draft is not None:
                self._check_cancel_place(effect)
        return self.effects

    def _check_cancel_place(self, reply: Reply) -> None:
        assert self.draft is not None
        actions = self.draft.prompt_actions
        cancel = translations(self.draft.language).gettext("Cancel")
        labels = tuple(tuple(b.label for b in row) for row in reply.buttons)
        self.prompts_seen.append((self.draft.phase, self.draft.current, labels))
        if self.draft.phase is Phase.CONFIRM_CANCEL:
            # Where Cancel was, "Keep it": a second tap in the same place keeps the report.
            assert actions[-1] == Action("cancel_kept"), labels
            assert len(reply.buttons[-1]) == 1 and Action("cancel") not in actions
            return
        assert actions[-1] == Action("cancel"), (self.draft.phase, labels)
        assert labels[-1] == (cancel,), (self.draft.phase, labels)
        assert actions.count(Action("cancel")) == 1, labels

    def press(self, action: Action) -> list[Effect]:
        assert self.draft is not None
        index = self.draft.prompt_actions.index(action)
        return self.send(Press(f"{self.draft.prompt_nonce}.{index}"))

    @property
    def text(self) -> str:
        return "\n".join(e.text for e in self.effects if isinstance(e, Reply))


def _every_question(witness: Witness) -> None:
    """From /start to the summary through every question of the shipped questionnaire
    (the conditional one included), with a shared location at the place question."""
    witness.send(Start(witness.language))
    witness.press(Action("consent", "yes"))
    witness.press(Action("choice", "detention"))      # shows the conditional `taken_to`
    witness.send(TextInput("Three people were taken"))
    witness.send(TextInput("To the station"))
    witness.send(TextInput("31.05.2024"))
    witness.send(LocationInput(50.45, 30.52))         # exact or approximate?
    witness.press(Action("location", "approximate"))
    witness.press(Action("tick", "known"))
    witness.press(Action("ticked"))
    witness.press(Action("skip"))
    witness.send(MediaInput((MediaRef("photo", "file-1", 1000),)))
    witness.press(Action("done"))
    witness.press(Action("choice", "yes"))
    witness.press(Action("choice", "no"))
    assert witness.draft is not None and witness.draft.phase is Phase.SUMMARY


@pytest.mark.parametrize("language", LANGUAGES)
def test_cancel_sits_in_the_same_place_on_every_step(language: str) -> None:
    """Over the whole shipped questionnaire, forwards and Back again (answers shown with
    "Keep this answer"), the summary, the edit menu, the language menu and a deep link's
    question: Cancel is the last row, alone, every time, in every language."""
    witness = Witness(_conversation(), language)
    _every_question(witness)
    witness.press(Action("edit_menu"))
    witness.press(Action("summary"))
    witness.send(ChooseLanguage())
    witness.press(Action("language", language))
    while witness.draft is not None and witness.draft.history:
        witness.press(Action("back"))
    questions = load_questionnaire(DEFAULT_QUESTIONNAIRE).questions
    asked = {current for phase, current, _labels in witness.prompts_seen
             if phase is Phase.ASKING}
    assert asked == {q.id for q in questions}
    phases = {phase for phase, _current, _labels in witness.prompts_seen}
    assert {Phase.SUMMARY, Phase.EDIT_MENU, Phase.LANGUAGE_MENU} <= phases
    # Each kind of question was shown, and at least one with a kept answer and its Keep row.
    assert {q.type for q in questions} == set(QuestionType)
    keep = translations(language).gettext("Keep this answer")
    assert any((keep,) in labels for _p, _c, labels in witness.prompts_seen)


def test_keep_it_loses_nothing_and_returns_to_the_same_prompt() -> None:
    """Cancel, then Keep it: every answer, the place in the questionnaire and a location still
    waiting for exact-or-approximate are as they were; a second tap where Cancel was keeps."""
    witness = Witness(_conversation(), "en")
    _every_question(witness)
    while witness.draft is not None and witness.draft.current != "where":
        witness.press(Action("back"))                 # back to `where`, with its answer
    witness.send(LocationInput(48.1, 11.5))           # waiting: exact or approximate?
    assert witness.draft is not None
    before = copy.deepcopy(witness.draft)
    witness.press(Action("cancel"))
    assert witness.draft is not None and witness.draft.phase is Phase.CONFIRM_CANCEL
    assert "Delete this report?" in witness.text
    assert witness.draft.answers == before.answers
    # The confirmation's last button sits where Cancel was: tapping there again keeps.
    last_row = witness.draft.prompt_actions[-1]
    assert last_row == Action("cancel_kept")
    witness.press(last_row)
    draft = witness.draft
    assert draft is not None and draft.phase is Phase.ASKING and draft.current == "where"
    assert draft.answers == before.answers and draft.history == before.history
    assert draft.pending_location == before.pending_location
    assert "Kept. Nothing was deleted." in witness.text and "exactly" in witness.text
    # /cancel typed asks the same way; Keep from the summary returns to the summary.
    witness.press(Action("location", "exact"))
    while witness.draft is not None and witness.draft.phase is Phase.ASKING:
        witness.press(Action("skip") if Action("skip") in witness.draft.prompt_actions
                      else Action("keep") if Action("keep") in witness.draft.prompt_actions
                      else Action("done") if Action("done") in witness.draft.prompt_actions
                      else Action("ticked"))
    assert witness.draft is not None and witness.draft.phase is Phase.SUMMARY
    summary = copy.deepcopy(witness.draft.answers)
    witness.send(Cancel())
    witness.send(Cancel())  # asked again, not deleted: it asks once, and deletes on Delete only
    witness.send(TextInput("what?"))  # typing while asked: the question comes back
    assert witness.draft is not None and witness.draft.phase is Phase.CONFIRM_CANCEL
    witness.press(Action("cancel_kept"))
    assert witness.draft is not None and witness.draft.phase is Phase.SUMMARY
    assert witness.draft.answers == summary


def test_cancel_confirmed_deletes_the_draft() -> None:
    witness = Witness(_conversation(), "en")
    _every_question(witness)
    witness.send(Cancel())
    effects = witness.press(Action("cancel_confirmed"))
    assert witness.draft is None and any(isinstance(e, DraftClosed) for e in effects)
    assert "Nothing was sent and your answers are deleted" in witness.text


def test_cancel_with_nothing_answered_stops_at_once() -> None:
    """Before the first answer there is nothing to lose, and nothing to ask."""
    witness = Witness(_conversation(), "en")
    witness.send(Start("en"))
    effects = witness.press(Action("cancel"))
    assert witness.draft is None and any(isinstance(e, DraftClosed) for e in effects)


def test_replies_without_a_draft_keep_the_chats_language() -> None:
    """After /cancel the core answers in the language it is told the chat last used."""
    arabic = translations("ar").gettext
    conversation = _conversation()
    _draft, effects = conversation.handle(None, TextInput("hello"), "ar")
    assert effects == [Reply(arabic("Hello. To report an incident, send /start."))]
    draft, effects = conversation.handle(None, Start("en"), "ar")
    assert draft is not None and draft.language == "ar"


def _router() -> ChannelConversations:
    return ChannelConversations({
        slug: ChannelEntry(_conversation(), slug.title())
        for slug in ("default", "river", "hills")
    })


def _answered_in(channel: str) -> Witness:
    witness = Witness(_router(), "uk")
    witness.send(Start("uk", channel))
    witness.press(Action("consent", "yes"))
    witness.press(Action("choice", "violence"))
    assert witness.draft is not None and witness.draft.channel == channel
    return witness


def test_a_deep_link_during_an_open_report_asks_continue() -> None:
    """Continue: the open report and its channel stay, answers and place untouched."""
    witness = _answered_in("river")
    assert witness.draft is not None
    before = copy.deepcopy(witness.draft)
    witness.send(Start("uk", "hills"))
    assert witness.draft is not None and witness.draft.phase is Phase.CONFIRM_SWITCH
    assert witness.text == translations("uk").gettext(
        "You followed a link to another organisation, and a report is still open here. "
        "Continue it, or start a new report for that organisation? A new one deletes the "
        "open report's answers.")
    witness.press(Action("switch", "continue"))
    draft = witness.draft
    assert draft is not None and draft.channel == "river" and draft.phase is Phase.ASKING
    assert draft.answers == before.answers and draft.current == before.current


def test_a_deep_link_during_an_open_report_asks_start_new() -> None:
    """Start a new report: a fresh draft in the link's channel, in the witness's language."""
    witness = _answered_in("river")
    witness.send(Start("uk", "hills"))
    witness.press(Action("switch", "new"))
    draft = witness.draft
    assert draft is not None and draft.channel == "hills" and draft.answers == {}
    assert draft.language == "uk" and draft.phase is Phase.ASKING
    assert draft.current == "safety"


def test_a_deep_link_before_any_answer_is_simply_followed() -> None:
    witness = Witness(_router(), "en")
    witness.send(Start("en", "river"))
    witness.send(Start("en", "hills"))
    assert witness.draft is not None and witness.draft.channel == "hills"
    assert witness.draft.phase is Phase.ASKING
