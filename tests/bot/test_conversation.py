"""The pure conversation core, driven with plain events (no Telegram, no database)."""

from __future__ import annotations

import datetime as dt
import gettext
import itertools
from pathlib import Path

import pytest

from bot.core import (
    Cancel,
    ChooseLanguage,
    ClearChat,
    Conversation,
    Draft,
    DraftClosed,
    Effect,
    Forget,
    LocationInput,
    MediaInput,
    MediaRef,
    Phase,
    Press,
    Reply,
    Start,
    SubmitRequested,
    TextInput,
    Unsupported,
    load_questionnaire,
)
from bot.core.draft import (
    ChoiceAnswer,
    DateAnswer,
    MediaAnswer,
    MultiChoiceAnswer,
    PlaceAnswer,
    Skipped,
    TextAnswer,
)
from bot.core.questionnaire import QuestionnaireError

TODAY = dt.date(2026, 11, 24)


class Chat:
    """A witness talking to the core; keeps the draft and the last replies."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.draft: Draft | None = None
        self.effects: list[Effect] = []

    def send(self, event: object) -> list[Effect]:
        self.draft, self.effects = self.conversation.handle(self.draft, event)  # type: ignore[arg-type]
        return self.effects

    @property
    def replies(self) -> list[Reply]:
        return [e for e in self.effects if isinstance(e, Reply)]

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.replies)

    def token(self, label: str) -> str:
        for reply in reversed(self.replies):
            for row in reply.buttons:
                for button in row:
                    if button.label == label:
                        return button.token
        raise AssertionError(f"no button {label!r} in {self.text!r}")

    def press(self, label: str) -> list[Effect]:
        return self.send(Press(self.token(label)))


@pytest.fixture
def conversation() -> Conversation:
    counter = itertools.count()
    return Conversation(
        load_questionnaire(),
        lambda _language: gettext.NullTranslations(),
        today=lambda: TODAY,
        new_token=lambda: f"n{next(counter)}",
    )


@pytest.fixture
def chat(conversation: Conversation) -> Chat:
    return Chat(conversation)


def _to_summary(chat: Chat) -> None:
    chat.send(Start("en"))
    chat.press("Yes, continue")
    chat.press("Arrest or detention")
    chat.send(TextInput("Three people were taken"))
    chat.send(TextInput("To the station on the hill"))
    chat.send(TextInput("31.05.2024 14:30"))
    chat.send(TextInput("Central square"))
    chat.press("People I know")
    chat.press("Children")
    chat.press("Done")
    chat.press("Skip")
    chat.send(MediaInput((MediaRef("photo", "file-1", 1000),)))
    chat.send(MediaInput((MediaRef("document", "file-2", 2000, "scan.pdf", "application/pdf"),)))
    chat.press("Done")
    chat.press("Yes")
    chat.press("Yes")


def _to_place(chat: Chat) -> None:
    chat.send(Start("en"))
    chat.press("Yes, continue")
    chat.press("Something else")
    chat.send(TextInput("It happened"))
    chat.press("I don't know")


def test_whole_conversation_reaches_submit(chat: Chat) -> None:
    """Answering every question leads to a summary listing everything, then to SubmitRequested."""
    _to_summary(chat)
    assert chat.draft is not None and chat.draft.phase is Phase.SUMMARY
    assert "Three people were taken" in chat.text
    assert "2024-05-31 14:30" in chat.text
    assert "Files: 1 document, 1 photo" in chat.text
    assert "Who was affected: People I know, Children" in chat.text
    effects = chat.press("Send")
    # Nothing said yet: "Sending…" goes with the request, said only if sealing is slow.
    assert effects == [SubmitRequested("Sending…")]
    answers = dict((q.id, a) for q, a in chat.conversation.visible_answers(chat.draft))
    assert answers["category"] == ChoiceAnswer("detention")
    assert answers["when"] == DateAnswer(dt.date(2024, 5, 31), dt.time(14, 30))
    assert answers["where"] == PlaceAnswer(text="Central square")
    assert answers["taken_to"] == TextAnswer("To the station on the hill")
    assert answers["affected"] == MultiChoiceAnswer(("known", "children"))
    assert isinstance(answers["evidence"], MediaAnswer) and len(answers["evidence"].files) == 2


def test_stale_button_is_refused_kindly(chat: Chat) -> None:
    """A button from an earlier question is refused and the current question shown again."""
    chat.send(Start("en"))
    old = chat.token("Yes, continue")
    chat.press("Yes, continue")
    chat.send(Press(old))
    assert "earlier question" in chat.text
    assert "What kind of incident" in chat.text
    assert chat.draft is not None and chat.draft.current == "category"


@pytest.mark.parametrize("forged", ["", "garbage", "n1.99", "n1.-1", "n1.", ".0", "n1.0.0", "n1.٣"])
def test_tampered_callback_data_is_refused(chat: Chat, forged: str) -> None:
    """Forged or malformed callback data never acts; the witness sees the question again."""
    chat.send(Start("en"))
    chat.press("Yes, continue")
    before = dict(chat.draft.answers) if chat.draft else {}
    chat.send(Press(forged))
    assert chat.draft is not None and chat.draft.answers == before
    assert "What kind of incident" in chat.text


def test_text_at_choice_step_reprompts(chat: Chat) -> None:
    """Typing at a choice question asks for a button and keeps the answers so far."""
    chat.send(Start("en"))
    chat.press("Yes, continue")
    chat.send(TextInput("detention"))
    assert "choose one of the buttons" in chat.text
    assert chat.draft is not None and chat.draft.current == "category"


def test_sticker_and_media_at_text_step(chat: Chat) -> None:
    """A sticker or a photo where text is expected gets a kind re-prompt; nothing is lost."""
    chat.send(Start("en"))
    chat.press("Yes, continue")
    chat.press("Violence against people")
    chat.send(Unsupported())
    assert "cannot use that kind of message" in chat.text
    chat.send(MediaInput((MediaRef("photo", "f", 10),)))
    assert "needs a typed answer" in chat.text
    assert chat.draft is not None and chat.draft.answers["category"] == ChoiceAnswer("violence")


def test_too_long_text_is_refused_without_loss(chat: Chat) -> None:
    """Text over the question's limit is refused with the numbers, and the draft is unchanged."""
    chat.send(Start("en"))
    chat.press("Yes, continue")
    chat.press("Violence against people")
    chat.send(TextInput("x" * 4000))
    assert "4000 characters" in chat.text and "3500" in chat.text
    assert chat.draft is not None and "what" not in chat.draft.answers


def test_dates(chat: Chat) -> None:
    """Typed dates in common forms, buttons, 'don't know', future and nonsense dates."""
    chat.send(Start("en"))
    chat.press("Yes, continue")
    chat.press("Something else")
    chat.send(TextInput("It happened"))
    chat.send(TextInput("not a date"))
    assert "could not read that date" in chat.text
    chat.send(TextInput("2030-01-01"))
    assert "in the future" in chat.text
    chat.press("Yesterday")
    assert chat.draft is not None
    assert chat.draft.answers["when"] == DateAnswer(TODAY - dt.timedelta(days=1))


def test_location_exact_or_approximate(chat: Chat) -> None:
    """A shared location asks exact or approximate; approximate is rounded to about 1 km."""
    _to_place(chat)
    chat.send(LocationInput(50.450123, 30.523456))
    assert "approximately" in chat.text
    chat.press("Approximate (about 1 km)")
    assert chat.draft is not None
    assert chat.draft.answers["where"] == PlaceAnswer(
        latitude=50.45, longitude=30.52, approximate=True
    )
    chat.press("Back")
    chat.send(LocationInput(50.450123, 30.523456))
    chat.press("Exact")
    assert chat.draft.answers["where"] == PlaceAnswer(latitude=50.450123, longitude=30.523456)


def test_multiple_choice_needs_one_tick(chat: Chat) -> None:
    """A multiple-choice question toggles ticks and refuses Done with none ticked."""
    _to_place(chat)
    chat.send(TextInput("Market"))
    chat.press("Done")
    assert "tick at least one" in chat.text
    chat.press("Me")
    chat.press("✓ Me")
    chat.press("Other people")
    assert "✓ Other people" in [b.label for r in chat.replies[-1].buttons for b in r]
    chat.press("Done")
    assert chat.draft is not None
    assert chat.draft.answers["affected"] == MultiChoiceAnswer(("others",))


def test_album_counts_as_one_step(chat: Chat) -> None:
    """Several files arriving together get one reply, and each over-limit file is named once."""
    _to_summary(chat)
    chat.press("Edit an answer")
    chat.press("Files")
    chat.send(MediaInput(tuple(MediaRef("photo", f"album-{i}", 100) for i in range(3))))
    assert len(chat.replies) == 1 and "Received 5 files" in chat.text


def test_forget_clears_everything(chat: Chat) -> None:
    """/forget deletes the draft and asks the adapter to clear the chat."""
    _to_summary(chat)
    effects = chat.send(Forget())
    assert chat.draft is None
    assert any(isinstance(e, ClearChat) for e in effects)


def test_language_menu_keeps_answers(chat: Chat) -> None:
    """/language shows a menu and returns to the same question with the answers kept."""
    _to_place(chat)
    chat.send(ChooseLanguage())
    assert "Choose a language" in chat.text
    chat.press("en")
    assert "Where did it happen" in chat.text
    assert chat.draft is not None and chat.draft.answers["what"] == TextAnswer("It happened")


def test_back_and_skip(chat: Chat) -> None:
    """Back returns to the previous question with its answer shown; Skip only where optional."""
    chat.send(Start("en"))
    chat.press("Yes, continue")
    chat.press("Threats or intimidation")
    chat.press("Back")
    assert "What kind of incident" in chat.text and "Current answer: Threats" in chat.text
    with pytest.raises(AssertionError):
        chat.token("Skip")  # the category question is required
    chat.press("Violence against people")
    chat.send(TextInput("x"))
    chat.press("Today")
    chat.send(TextInput("y"))
    chat.press("Me")
    chat.press("Done")
    chat.press("Skip")  # who did it: optional
    chat.press("Skip")  # evidence: optional
    assert chat.draft is not None and chat.draft.answers["evidence"] == Skipped()


def test_edit_from_summary_returns_to_summary(chat: Chat) -> None:
    """Editing one answer from the summary changes it and comes back to the summary."""
    _to_summary(chat)
    chat.press("Edit an answer")
    chat.press("What happened")
    chat.send(TextInput("Corrected account"))
    assert chat.draft is not None and chat.draft.phase is Phase.SUMMARY
    assert chat.draft.answers["what"] == TextAnswer("Corrected account")
    assert "Corrected account" in chat.text


def test_cancel_and_decline(chat: Chat) -> None:
    """Cancel, once confirmed, and declining consent both close the draft."""
    _to_summary(chat)
    chat.send(Cancel())
    effects = chat.press("Delete it")
    assert chat.draft is None and any(isinstance(e, DraftClosed) for e in effects)
    chat.send(Start("en"))
    chat.press("No, stop")
    assert chat.draft is None and "Nothing was saved" in chat.text


def test_file_over_limit_is_refused_kindly(chat: Chat) -> None:
    """A file larger than the download limit is refused with the limit; earlier files stay."""
    _to_summary(chat)
    chat.press("Edit an answer")
    chat.press("Files")
    chat.send(MediaInput((MediaRef("video", "big", 21 * 1024 * 1024),)))
    assert "21 MB" in chat.text and "20 MB" in chat.text
    assert chat.draft is not None
    evidence = chat.draft.answers["evidence"]
    assert isinstance(evidence, MediaAnswer) and len(evidence.files) == 2


def test_restart_keeps_the_draft(chat: Chat) -> None:
    """/start during a conversation continues it instead of wiping the answers."""
    chat.send(Start("en"))
    chat.press("Yes, continue")
    chat.press("Arrest or detention")
    chat.send(Start("en"))
    assert "continue where you left off" in chat.text
    assert chat.draft is not None and chat.draft.answers["category"] == ChoiceAnswer("detention")


def test_submit_failure_keeps_draft(chat: Chat) -> None:
    """When sealing fails the draft returns to the summary with a Send button."""
    _to_summary(chat)
    chat.press("Send")
    assert chat.draft is not None
    chat.effects = chat.conversation.submit_failed(chat.draft, "unavailable")
    assert "cannot be received right now" in chat.text
    chat.press("Send")


def test_conditional_question(tmp_path: Path) -> None:
    """A question with show_if appears only for the listed answers of an earlier choice."""
    path = tmp_path / "q.toml"
    path.write_text(
        """
[questionnaire]
id = "t"
[[question]]
id = "kind"
type = "choice"
text = "Kind?"
choices = [{ id = "a", text = "A" }, { id = "b", text = "B" }]
[[question]]
id = "detail"
type = "text"
text = "Detail about A?"
show_if = { question = "kind", any_of = ["a"] }
[[question]]
id = "end"
type = "text"
text = "Anything else?"
""",
        encoding="utf-8",
    )
    chat = Chat(Conversation(load_questionnaire(path), lambda _l: gettext.NullTranslations()))
    chat.send(Start())
    chat.press("B")
    assert "Anything else?" in chat.text
    chat.press("Back")
    chat.press("A")
    assert "Detail about A?" in chat.text


def test_broken_questionnaire_names_line_and_fix(tmp_path: Path) -> None:
    """A broken questionnaire stops loading with each problem's line number and fix."""
    path = tmp_path / "q.toml"
    path.write_text(
        '[questionnaire]\nid = "t"\n\n[[question]]\nid = "a"\ntype = "poem"\ntext = "x"\n'
        '\n[[question]]\nid = "b"\ntype = "choice"\ntext = "y"\nchoices = []\n',
        encoding="utf-8",
    )
    with pytest.raises(QuestionnaireError) as caught:
        load_questionnaire(path)
    message = str(caught.value)
    assert "q.toml:5:" in message and "type must be one of" in message
    assert "q.toml:10:" in message and "needs 2+ choices" in message
    path.write_text("[questionnaire\n", encoding="utf-8")
    with pytest.raises(QuestionnaireError, match="line 1"):
        load_questionnaire(path)


def test_back_from_summary_and_location_prompt(chat: Chat) -> None:
    """Back from the summary reopens the last question; Back on the location prompt reopens
    the place question itself."""
    _to_summary(chat)
    chat.press("Back")
    assert "May the reviewers leave you a question" in chat.text
    chat.press("Yes")
    chat.press("Edit an answer")
    chat.press("Where")
    chat.send(LocationInput(1.0, 2.0))
    chat.press("Back")
    assert "Where did it happen" in chat.text


def test_questionnaire_limits_are_checked(tmp_path: Path) -> None:
    """Non-numeric limits and an optional consent question are refused with line numbers."""
    path = tmp_path / "q.toml"
    path.write_text(
        '[questionnaire]\nid = "t"\n\n[[question]]\nid = "ok"\ntype = "consent"\ntext = "x"\n'
        'required = false\n\n[[question]]\nid = "long"\ntype = "text"\ntext = "y"\n'
        'max_length = "lots"\n',
        encoding="utf-8",
    )
    with pytest.raises(QuestionnaireError) as caught:
        load_questionnaire(path)
    message = str(caught.value)
    assert "q.toml:5:" in message and "cannot be optional" in message
    assert "q.toml:11:" in message and "max_length must be a whole number" in message
