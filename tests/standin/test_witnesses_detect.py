"""The scripted witness's detectors really fire: a small misbehaving bot (PTB's Bot over the
stand-in) sends messages twice, swaps answers, forgets a conversation, re-asks stale questions
and goes silent, and the witness copes or flags exactly that."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update

from standin import BotApiStandIn
from standin.witness_script import WitnessScript
from standin.witnesses import ScriptedWitness, WitnessRecord, run_witnesses
from tests.standin.conftest import TOKEN

QUESTIONNAIRE = """
[questionnaire]
id = "mini"
default_language = "en"

[[question]]
id = "safety"
type = "consent"
label.en = "Safety"
text.en = "Is it safe to use your phone now?"

[[question]]
id = "what"
type = "text"
label.en = "What"
text.en = "What happened?"

[[question]]
id = "where"
type = "place"
label.en = "Where"
text.en = "Where did it happen?"
"""
PROMPTS = ["Is it safe to use your phone now?", "What happened?", "Where did it happen?"]
FETCH_FAILED = "Sorry, one of your files could not be fetched. Press Send to try again."
RECEIPT = "Received. Thank you.\n\nYour receipt code is:\n1234-5678-9012-3456-7890"


@dataclass
class Chat:
    step: int = 0
    nonce: int = 0
    answers: dict[int, str] = field(default_factory=dict)


@dataclass
class MiniBot:
    """Three questions, a summary and a receipt; each flag is one way of failing."""

    bot: Bot
    duplicate: bool = False
    swap: bool = False
    forget_after_where: bool = False
    stale_reprompt_after_what: bool = False
    silent_before_summary: float = 0.0
    notice_mentioning_start: bool = False
    failed_sends: int = 0
    chats: dict[int, Chat] = field(default_factory=dict)
    forgot: bool = False

    async def say(self, chat_id: int, text: str, buttons: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)]
                                       for t, d in buttons]) if buttons else None
        for _ in range(2 if self.duplicate else 1):
            await self.bot.send_message(chat_id, text, reply_markup=markup)

    async def prompt(self, chat_id: int, chat: Chat, lead: str | None = None) -> None:
        n = chat.nonce
        if chat.step == 0:
            buttons = [("Yes, continue", f"{n}.yes"), ("No, stop", f"{n}.no")]
        elif chat.step < 3:
            buttons = [("Back", f"{n}.back"), ("Cancel", f"{n}.cancel")]
        else:
            buttons = [("Send", f"{n}.send"), ("Edit an answer", f"{n}.edit")]
        if chat.step < 3:
            text = PROMPTS[chat.step]
        else:
            what, where = chat.answers[1], chat.answers[2]
            if self.swap:
                what, where = where, what
            text = f"Please check your report:\n\n• What: {what}\n• Where: {where}"
        if lead:
            await self.say(chat_id, lead)
        await self.say(chat_id, text, buttons)

    async def advance(self, chat_id: int, chat: Chat) -> None:
        chat.step += 1
        chat.nonce += 1
        await self.prompt(chat_id, chat)

    async def handle(self, update: Update) -> None:
        assert update.effective_chat is not None
        chat_id = update.effective_chat.id
        chat = self.chats.get(chat_id)
        query, message = update.callback_query, update.message
        if message is not None and message.text == "/start":
            if chat is None:
                chat = self.chats[chat_id] = Chat()
                await self.prompt(chat_id, chat)
            else:
                await self.prompt(chat_id, chat, lead="Welcome back.")
            return
        if chat is None:
            await self.say(chat_id, "That conversation has ended. Send /start to begin again.")
            return
        if query is not None:
            await query.answer()
            nonce, _, action = (query.data or "").partition(".")
            if int(nonce) != chat.nonce:
                await self.prompt(chat_id, chat, lead="That button is from an earlier question:")
            elif action == "yes" and chat.step == 0:
                await self.advance(chat_id, chat)
            elif action == "send" and chat.step == 3:
                await self.say(chat_id, "Sending…")
                if self.failed_sends:
                    # As the real bot says it: the same words and the same summary each time.
                    self.failed_sends -= 1
                    await self.prompt(chat_id, chat, lead=FETCH_FAILED)
                else:
                    await self.say(chat_id, RECEIPT)
            return
        if message is not None and message.text and chat.step in (1, 2):
            chat.answers[chat.step] = message.text
            if chat.step == 1 and self.stale_reprompt_after_what:
                self.stale_reprompt_after_what = False
                await self.prompt(chat_id, chat, lead="That button is from an earlier question:")
                await asyncio.sleep(0.3)
            if chat.step == 2 and self.forget_after_where and not self.forgot:
                self.forgot = True
                del self.chats[chat_id]
                await self.say(chat_id, "That conversation has ended. Send /start to begin again.")
                return
            if chat.step == 1 and self.notice_mentioning_start:
                await self.say(chat_id, "Noted. You can always begin anew with /start.")
                await asyncio.sleep(0.3)
            if chat.step == 2 and self.silent_before_summary:
                await asyncio.sleep(self.silent_before_summary)
            await self.advance(chat_id, chat)

    async def run(self) -> None:
        offset = None
        while True:
            for update in await self.bot.get_updates(offset=offset, timeout=1):
                offset = update.update_id + 1
                await self.handle(update)


@pytest.fixture
def script(tmp_path: Path) -> WitnessScript:
    path = tmp_path / "mini.toml"
    path.write_text(QUESTIONNAIRE, encoding="utf-8")
    return WitnessScript.from_toml(path)


@contextlib.asynccontextmanager
async def mini_bot(stand_in: BotApiStandIn, **flags: object) -> AsyncIterator[MiniBot]:
    async with Bot(TOKEN, base_url=stand_in.base_url) as bot:
        mini = MiniBot(bot, **flags)  # type: ignore[arg-type]
        task = asyncio.create_task(mini.run())
        try:
            yield mini
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _witness(stand_in: BotApiStandIn, script: WitnessScript, **options: object
                   ) -> WitnessRecord:
    witness = ScriptedWitness(stand_in.user(4242, "Ada"), script, **options)  # type: ignore[arg-type]
    return await witness.run()


async def test_a_well_behaved_bot_flags_nothing(
    stand_in: BotApiStandIn, script: WitnessScript
) -> None:
    """The baseline: receipt, every action once, nothing flagged."""
    async with mini_bot(stand_in):
        [record] = await run_witnesses(stand_in, 1, script=script, patience=5, pause=(0.01, 0.05))
    assert record.receipt_code == "1234-5678-9012-3456-7890"
    assert record.actions == ["/start", "press:Yes, continue", "text:what", "text:where",
                              "press:Send"]
    assert not (record.started_over or record.repeated_questions or record.misfiled
                or record.missing_from_summary or record.stalled)


async def test_every_message_twice_changes_nothing(
    stand_in: BotApiStandIn, script: WitnessScript
) -> None:
    """Each bot message arriving twice: the witness acts once per question all the same."""
    async with mini_bot(stand_in, duplicate=True):
        record = await _witness(stand_in, script, patience=5, settle=0.5)
    assert record.receipt_code is not None
    assert record.actions == ["/start", "press:Yes, continue", "text:what", "text:where",
                              "press:Send"]
    # Five messages twice, and the receipt: its second copy comes after the witness is done.
    assert len(record.messages) == 11 and not record.repeated_questions


async def test_answers_under_the_wrong_question_are_flagged(
    stand_in: BotApiStandIn, script: WitnessScript
) -> None:
    """A summary showing each answer under the other question's label is caught."""
    async with mini_bot(stand_in, swap=True):
        record = await _witness(stand_in, script, patience=5)
    assert sorted(record.misfiled) == [("what", "Where"), ("where", "What")]
    assert sorted(record.missing_from_summary) == ["what", "where"]


async def test_a_forgotten_conversation_is_started_over_and_flagged(
    stand_in: BotApiStandIn, script: WitnessScript
) -> None:
    """Told to send /start, the witness does so once, answers again, and says it started over."""
    async with mini_bot(stand_in, forget_after_where=True):
        record = await _witness(stand_in, script, patience=5, settle=0.2)
    assert record.receipt_code is not None
    assert record.started_over
    assert record.repeated_questions == ["safety", "what", "where"]
    assert record.actions.count("/start") == 2 and record.actions.count("text:what") == 2
    assert record.misfiled == [] and record.missing_from_summary == []


async def test_a_stale_reprompt_is_not_answered_twice(
    stand_in: BotApiStandIn, script: WitnessScript
) -> None:
    """A re-prompt of an answered question followed by the next one: only the next is answered."""
    async with mini_bot(stand_in, stale_reprompt_after_what=True):
        record = await _witness(stand_in, script, patience=5, settle=2.0)
    assert record.actions.count("text:what") == 1
    assert record.repeated_questions == [] and record.misfiled == []
    assert record.receipt_code is not None


async def test_a_silent_bot_is_waited_for_then_given_up_on(
    stand_in: BotApiStandIn, script: WitnessScript
) -> None:
    """Patience outlasts a bot that is down for a while; too little patience is recorded."""
    async with mini_bot(stand_in, silent_before_summary=2.0):
        record = await _witness(stand_in, script, patience=6)
    assert record.receipt_code is not None and record.stalled is None
    impatient = ScriptedWitness(stand_in.user(4343, "Bob"), script, patience=1.0)
    async with mini_bot(stand_in, silent_before_summary=4.0):
        record = await impatient.run()
    assert record.receipt_code is None
    assert record.stalled == "no bot message for 1.0 s after text:where"


async def test_a_notice_that_mentions_start_is_not_obeyed_when_a_question_follows(
    stand_in: BotApiStandIn, script: WitnessScript
) -> None:
    """A button-less notice mentioning /start, then the next question: /start is not sent."""
    async with mini_bot(stand_in, notice_mentioning_start=True):
        record = await _witness(stand_in, script, patience=5, settle=2.0)
    assert record.receipt_code is not None
    assert record.actions.count("/start") == 1 and not record.repeated_questions


async def test_a_send_that_fails_twice_in_the_same_words_is_pressed_again(
    stand_in: BotApiStandIn, script: WitnessScript
) -> None:
    """The bot answers a second failed Send exactly as the first ("Sending…", the notice, the
    same summary): that is an answer, not a message delivered twice, and the witness presses
    Send again until the receipt comes (it used to wait in silence until its patience ran out)."""
    async with mini_bot(stand_in, failed_sends=2):
        record = await _witness(stand_in, script, patience=5, settle=0.5)
    assert record.stalled is None, record.texts[-3:]
    assert record.receipt_code is not None
    assert record.actions[-3:] == ["press:Send"] * 3
    assert record.texts.count(FETCH_FAILED) == 2


async def test_a_notice_delivered_twice_still_announces_the_question_after_it(
    stand_in: BotApiStandIn, script: WitnessScript
) -> None:
    """A failed Send answered with every message twice (a dropped connection after the effect,
    then the retry): "Sorry…", "Sorry…", then the same summary twice. The notice's second copy
    does not undo the first: the summary after it is the bot asking again, and is answered."""
    async with mini_bot(stand_in, failed_sends=1, duplicate=True):
        record = await _witness(stand_in, script, patience=5, settle=0.5)
    assert record.stalled is None, record.texts[-3:]
    assert record.receipt_code is not None
    assert record.actions[-2:] == ["press:Send"] * 2
