"""What a first-time witness ran into (issue 9, items 2 to 6), driven through the pure core.

Each test names what a hurried or frightened person needs from the bot: being heard when they
say they are in danger, keeping an answer without retyping it, not losing words typed in the
wrong place, a summary that says each thing once, and a reminder that comes with its question.
"""

from __future__ import annotations

import gettext
import itertools
import json
from pathlib import Path

import pytest

from bot.core import (
    Conversation,
    MediaAnswer,
    MediaInput,
    MediaRef,
    Phase,
    Start,
    TextInput,
    load_questionnaire,
    report_document,
)
from bot.core.draft import DateAnswer, PlaceAnswer, TextAnswer
from bot.core.events import MESSAGE_LIMIT, Button, Reply, heard_first
from bot.core.questionnaire import QuestionnaireError
from bot.i18n import SUPPORTED_LANGUAGES, translations
from tests.bot.test_conversation import TODAY, Chat, _to_summary


@pytest.fixture
def chat() -> Chat:
    counter = itertools.count()
    return Chat(Conversation(
        load_questionnaire(),
        lambda _language: gettext.NullTranslations(),
        today=lambda: TODAY,
        new_token=lambda: f"n{next(counter)}",
    ))


def _to_evidence(chat: Chat, language: str = "en") -> None:
    chat.send(Start(language))
    chat.press("Yes, continue")
    chat.press("Violence against people")
    chat.send(TextInput("It happened"))
    chat.press("Today")
    chat.send(TextInput("Market"))
    chat.press("Me")
    chat.press("Done")
    chat.press("Skip")


# -- 2. "No, I am in danger" is heard --------------------------------------------------------


def test_danger_answer_is_acknowledged_before_the_next_question(chat: Chat) -> None:
    """Choosing "No, I am in danger" first gets the organisation's calm message, then the next
    question, in one message (one notification, nothing waiting on Telegram's per-chat rate);
    "Yes" gets no such message."""
    _to_evidence(chat)
    chat.press("Skip")  # no files
    chat.press("No, I am in danger")
    assert len(chat.replies) == 1, chat.text
    (message,) = chat.replies
    acknowledgement, following = message.text.split("\n\n", 1)
    assert acknowledgement.startswith("Thank you for telling us")
    assert following.startswith("May the reviewers leave you a question")
    assert [label for row in message.buttons for label in (b.label for b in row)][:2] == [
        "Yes", "No"]
    chat.press("Back")
    chat.press("Yes")
    assert len(chat.replies) == 1 and "Thank you for telling us" not in chat.text


def test_an_acknowledgement_too_long_to_share_a_message_comes_first_on_its_own() -> None:
    """Where the calm message and the next prompt (a long summary, say) would pass Telegram's
    4096 characters together, the acknowledgement comes first, alone, and then the prompt."""
    heard = "Thank you for telling us."
    buttons = ((Button("Send", "t1"),),)
    near_limit = Reply("é" * (MESSAGE_LIMIT - len(heard) - 2), buttons)
    assert heard_first(heard, near_limit) == [Reply(f"{heard}\n\n{near_limit.text}", buttons)]
    # Counted as Telegram counts: an emoji outside the BMP is two UTF-16 code units.
    over = Reply("🙂" * ((MESSAGE_LIMIT - len(heard)) // 2), buttons)
    assert heard_first(heard, over) == [Reply(heard), over]


def test_danger_message_exists_in_every_language() -> None:
    """The shipped questionnaire has the acknowledgement in each of its languages."""
    questionnaire = load_questionnaire()
    danger = questionnaire.question("safe_now").choice("no")
    assert danger is not None and danger.reply is not None
    assert set(danger.reply.by_language) == set(SUPPORTED_LANGUAGES)
    assert len(set(danger.reply.by_language.values())) == len(SUPPORTED_LANGUAGES)


def test_danger_message_in_the_witness_language() -> None:
    """A Ukrainian witness reads the acknowledgement in Ukrainian."""
    counter = itertools.count()
    chat = Chat(Conversation(load_questionnaire(), translations, today=lambda: TODAY,
                             new_token=lambda: f"n{next(counter)}"))
    questionnaire = chat.conversation.questionnaire
    danger = questionnaire.question("safe_now").choice("no")
    assert danger is not None and danger.reply is not None
    chat.send(Start("uk"))
    chat.draft.current = "safe_now"  # type: ignore[union-attr]
    chat.send(Start("uk"))  # shows the current question again, with its buttons
    chat.press("Ні, мені загрожує небезпека")
    assert chat.replies[0].text.startswith(danger.reply.get("uk") + "\n\n")


_REPLY_QUESTIONNAIRE = """
[questionnaire]
id = "t"
languages = ["en", "fr"]

[[question]]
id = "safe"
type = "choice"
text = "Safe?"
choices = [
  {{ id = "yes", text = "Yes" }},
  {{ id = "no", text = "No", {reply} }},
]
"""


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ('reply.fr = "Appelez"', "add a text in the default language (en)"),
        ("reply = 3", "texts are tables of language"),
        ('reply.en = "' + "x" * 1001 + '"', "reply of a choice is at most 1000 characters"),
    ],
)
def test_bad_reply_is_refused_at_start_up(tmp_path: Path, reply: str, problem: str) -> None:
    """A reply without the default language, not text, or too long stops loading with the
    line and the fix, like every other questionnaire problem."""
    path = tmp_path / "q.toml"
    path.write_text(_REPLY_QUESTIONNAIRE.format(reply=reply), encoding="utf-8")
    with pytest.raises(QuestionnaireError) as caught:
        load_questionnaire(path)
    assert problem in str(caught.value) and "q.toml:7:" in str(caught.value)


def test_reply_on_a_text_question_is_refused(tmp_path: Path) -> None:
    """`reply` belongs to the choices of a choice question; elsewhere it would never be shown."""
    path = tmp_path / "q.toml"
    path.write_text(
        '[questionnaire]\nid = "t"\n\n[[question]]\nid = "many"\ntype = "multi"\ntext = "x"\n'
        'choices = [{ id = "a", text = "A", reply = "Hi" }, { id = "b", text = "B" }]\n',
        encoding="utf-8",
    )
    with pytest.raises(QuestionnaireError, match=r"q\.toml:5:.*only on the choices of a `choice`"):
        load_questionnaire(path)


# -- 3. Keep this answer ---------------------------------------------------------------------


def test_back_to_a_text_step_offers_keep_this_answer(chat: Chat) -> None:
    """Going Back to a typed answer offers "Keep this answer", which keeps it and moves on."""
    chat.send(Start("en"))
    chat.press("Yes, continue")
    chat.press("Violence against people")
    chat.send(TextInput("It happened at noon"))
    chat.press("Back")
    assert "Please describe what happened" in chat.text
    chat.press("Keep this answer")
    assert chat.draft is not None and chat.draft.current == "when"
    assert chat.draft.answers["what"] == TextAnswer("It happened at noon")
    chat.press("Back")
    chat.press("Keep this answer")
    assert chat.draft.current == "when"
    chat.send(TextInput("01.05.2024"))
    chat.send(TextInput("Market"))
    chat.press("Back")
    chat.press("Keep this answer")
    assert chat.draft.answers["where"] == PlaceAnswer(text="Market")
    assert chat.draft.answers["when"] == DateAnswer(TODAY.replace(month=5, day=1, year=2024))
    assert chat.draft.current == "affected"


def test_keep_this_answer_only_when_there_is_one(chat: Chat) -> None:
    """A text step reached for the first time has no "Keep this answer" button; from the edit
    menu the button returns to the summary unchanged."""
    chat.send(Start("en"))
    chat.press("Yes, continue")
    chat.press("Violence against people")
    with pytest.raises(AssertionError):
        chat.token("Keep this answer")
    chat = Chat(chat.conversation)
    _to_summary(chat)
    chat.press("Edit an answer")
    chat.press("What happened")
    chat.press("Keep this answer")
    assert chat.draft is not None and chat.draft.phase is Phase.SUMMARY
    assert "Three people were taken" in chat.text


# -- 4. Words typed at the files step are kept ---------------------------------------------


def test_text_at_the_files_step_is_kept_as_a_note(chat: Chat) -> None:
    """"here is my photo" typed at the files step is kept as a note on the files, said so,
    shown in the summary and sealed in the report."""
    _to_evidence(chat)
    chat.send(TextInput("here is my photo"))
    assert "kept" in chat.text.lower() and "note" in chat.text.lower()
    assert len(chat.replies) == 1
    chat.send(MediaInput((MediaRef("photo", "file-1", 1000),)))
    chat.send(TextInput("taken from the window"))
    chat.press("Done")
    assert chat.draft is not None
    evidence = chat.draft.answers["evidence"]
    assert isinstance(evidence, MediaAnswer) and len(evidence.files) == 1
    assert evidence.note == "here is my photo\ntaken from the window"
    chat.press("Yes")
    chat.press("No")
    assert "here is my photo" in chat.text and "taken from the window" in chat.text
    document = json.loads(report_document(
        report_id="r", questionnaire=chat.conversation.questionnaire, language="en",
        answers=chat.conversation.visible_answers(chat.draft), attachments=[],
        submitted_at=__import__("datetime").datetime(2026, 11, 24),
    ))
    files = next(a for a in document["answers"] if a["question"] == "evidence")
    assert files["files"] == 1 and files["note"] == "here is my photo\ntaken from the window"


def test_a_note_alone_can_be_sent_and_is_limited(chat: Chat) -> None:
    """A note without files is an answer (Done accepts it); a note over the limit is refused
    with the numbers and the earlier note is kept."""
    _to_evidence(chat)
    chat.send(TextInput("I have no photos, but a friend filmed it"))
    chat.send(TextInput("x" * 4000))
    assert "not kept" in chat.text and "3000" in chat.text
    chat.press("Done")
    assert chat.draft is not None and chat.draft.current == "safe_now"
    evidence = chat.draft.answers["evidence"]
    assert isinstance(evidence, MediaAnswer) and evidence.files == ()
    assert evidence.note == "I have no photos, but a friend filmed it"


# -- 5. The summary says the files once, in good plurals -------------------------------------


def test_summary_counts_files_once_in_real_plurals(chat: Chat) -> None:
    """One line for the files, "1 photo" and "2 documents" (no "(s)"), no second total."""
    _to_evidence(chat)
    chat.send(MediaInput((MediaRef("photo", "f1", 10),)))
    chat.send(MediaInput((MediaRef("document", "f2", 10), MediaRef("document", "f3", 10))))
    assert "Received 3 files" in chat.text
    chat.press("Done")
    chat.press("Yes")
    chat.press("No")
    summary = chat.text
    assert "• Files: 2 documents, 1 photo" in summary
    assert "(s)" not in summary and "Files attached" not in summary
    assert summary.count("Files") == 1


@pytest.mark.parametrize(("language", "expected"), [
    ("uk", ["1 фото", "2 документи", "5 документів"]),
    ("ru", ["1 фото", "2 документа", "5 документов"]),
    ("ar", ["صورة واحدة", "مستندان", "5 مستندات"]),
    ("es", ["1 foto", "2 documentos", "5 documentos"]),
    ("fr", ["1 photo", "2 documents", "5 documents"]),
])
def test_file_counts_use_each_language_plural_forms(language: str, expected: list[str]) -> None:
    """Counts go through gettext's ngettext, so each language gets its own plural forms."""
    from bot.core.summary import describe_files

    files = [MediaRef("photo", "p", 1)]
    assert expected[0] in describe_files(MediaAnswer(tuple(files)), translations(language))
    two = tuple(MediaRef("document", f"d{i}", 1) for i in range(2))
    assert expected[1] in describe_files(MediaAnswer(two), translations(language))
    five = tuple(MediaRef("document", f"d{i}", 1) for i in range(5))
    assert expected[2] in describe_files(MediaAnswer(five), translations(language))


# -- 6. Done with nothing ticked: one message -------------------------------------------------


def test_done_with_nothing_ticked_is_one_message(chat: Chat) -> None:
    """The reminder and the question arrive as one message, reminder first, with the buttons."""
    chat.send(Start("en"))
    chat.press("Yes, continue")
    chat.press("Violence against people")
    chat.send(TextInput("It happened"))
    chat.press("Today")
    chat.send(TextInput("Market"))
    chat.press("Done")
    assert len(chat.replies) == 1
    reply = chat.replies[0]
    assert reply.text.startswith("Please tick at least one answer")
    assert "Who was affected?" in reply.text
    assert reply.buttons


def test_reviewers_read_the_note_in_the_console() -> None:
    """The console shows the note sealed with the files (`intake review show` is checked by
    tests/cli/test_demo.py, which opens a report with a note)."""
    from review.answers import answer_views

    sealed = {"question": "evidence", "type": "media", "label": "Files", "files": 1,
              "note": "here is my photo"}
    [view] = answer_views([sealed])
    assert "here is my photo" in view.value
