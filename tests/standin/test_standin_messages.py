"""Messages, keyboards, edits and deletions through the real python-telegram-bot Bot."""

from __future__ import annotations

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden

from standin import BotApiStandIn


def _keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.upper(), callback_data=d)] for d in data])


async def test_get_me_describes_the_bot(bot: Bot, stand_in: BotApiStandIn) -> None:
    """getMe returns the configured username and the id taken from the token."""
    me = await bot.get_me()
    assert me.is_bot
    assert me.username == "intake_test_bot"
    assert me.id == 123456789
    assert stand_in.calls_to("getMe")


async def test_inline_keyboard_reads_back_as_bot_message(bot: Bot, stand_in: BotApiStandIn) -> None:
    """A message with an inline keyboard reaches the user with its buttons and flags."""
    witness = stand_in.user(1001, "Ada", username="ada")
    sent = await bot.send_message(
        witness.chat_id, "Pick one", reply_markup=_keyboard("yes", "no"), protect_content=True
    )
    received = await witness.next_bot_message(timeout=2)
    assert received.message_id == sent.message_id
    assert received.text == "Pick one"
    assert received.buttons == [[("YES", "yes")], [("NO", "no")]]
    assert received.protect_content is True
    assert received.edited is False
    assert received.method == "sendMessage"
    assert sent.has_protected_content is True
    assert sent.reply_markup == _keyboard("yes", "no")


async def test_too_long_message_is_refused(bot: Bot, stand_in: BotApiStandIn) -> None:
    """A 4097-character text fails with Telegram's "message is too long" while 4096 passes."""
    witness = stand_in.user(1001, "Ada")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(witness.chat_id, "x" * 4097)
    await bot.send_message(witness.chat_id, "x" * 4096)
    assert len((await witness.next_bot_message(timeout=2)).text) == 4096


async def test_empty_text_is_refused(bot: Bot, stand_in: BotApiStandIn) -> None:
    """A whitespace-only text fails with "message text is empty"."""
    witness = stand_in.user(1001, "Ada")
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(witness.chat_id, "   \n ")


async def test_callback_data_over_64_bytes_is_refused(bot: Bot, stand_in: BotApiStandIn) -> None:
    """callback_data longer than 64 UTF-8 bytes fails with BUTTON_DATA_INVALID."""
    witness = stand_in.user(1001, "Ada")
    for too_long in ("d" * 65, "é" * 33):
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(witness.chat_id, "Pick", reply_markup=_keyboard(too_long))
    await bot.send_message(witness.chat_id, "Pick", reply_markup=_keyboard("é" * 32))
    assert (await witness.next_bot_message(timeout=2)).callback_data == ["é" * 32]


async def test_unknown_chat_is_refused(bot: Bot) -> None:
    """Sending to a chat no user opened fails with "chat not found"."""
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999, "hello")


async def test_blocked_user_gives_forbidden(bot: Bot, stand_in: BotApiStandIn) -> None:
    """After the user blocks the bot, sending fails with 403 Forbidden."""
    witness = stand_in.user(1001, "Ada")
    witness.block_bot()
    with pytest.raises(Forbidden, match=r"(?i)blocked"):
        await bot.send_message(witness.chat_id, "hello")


async def test_reply_keyboard_and_its_removal(bot: Bot, stand_in: BotApiStandIn) -> None:
    """A reply keyboard is shown to the user until a ReplyKeyboardRemove arrives."""
    witness = stand_in.user(1001, "Ada")
    await bot.send_message(
        witness.chat_id, "Share?", reply_markup=ReplyKeyboardMarkup([["Yes", "No"]])
    )
    shown = await witness.next_bot_message(timeout=2)
    assert shown.reply_keyboard == [["Yes", "No"]]
    assert witness.reply_keyboard == [["Yes", "No"]]
    await witness.press_reply_button("Yes")
    assert witness.visible_messages()[-1].text == "Yes"
    await bot.send_message(witness.chat_id, "Thanks", reply_markup=ReplyKeyboardRemove())
    removed = await witness.next_bot_message(timeout=2)
    assert removed.removes_reply_keyboard
    assert witness.reply_keyboard is None


async def test_parse_modes_produce_displayed_text(bot: Bot, stand_in: BotApiStandIn) -> None:
    """HTML and MarkdownV2 markup is stripped and bad MarkdownV2 escaping is refused."""
    witness = stand_in.user(1001, "Ada")
    await bot.send_message(witness.chat_id, "<b>Bold</b> &amp; co", parse_mode=ParseMode.HTML)
    html = await witness.next_bot_message(timeout=2)
    assert (html.text, html.raw_text, html.parse_mode) == (
        "Bold & co",
        "<b>Bold</b> &amp; co",
        "HTML",
    )
    assert html.entities == [{"type": "bold", "offset": 0, "length": 4}]
    await bot.send_message(witness.chat_id, "*Done*\\.", parse_mode=ParseMode.MARKDOWN_V2)
    assert (await witness.next_bot_message(timeout=2)).text == "Done."
    with pytest.raises(BadRequest, match=r"(?i)reserved and must be escaped"):
        await bot.send_message(witness.chat_id, "Done.", parse_mode=ParseMode.MARKDOWN_V2)


async def test_edit_text_is_seen_as_edited(bot: Bot, stand_in: BotApiStandIn) -> None:
    """editMessageText reaches next_bot_message as edited and drops an unrepeated keyboard."""
    witness = stand_in.user(1001, "Ada")
    sent = await bot.send_message(witness.chat_id, "Step 1", reply_markup=_keyboard("next"))
    await witness.next_bot_message(timeout=2)
    await bot.edit_message_text("Step 2", chat_id=witness.chat_id, message_id=sent.message_id)
    edited = await witness.next_bot_message(timeout=2)
    assert (edited.message_id, edited.text, edited.edited) == (sent.message_id, "Step 2", True)
    assert edited.method == "editMessageText"
    assert edited.buttons == []
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Step 2", chat_id=witness.chat_id, message_id=sent.message_id)
    await bot.edit_message_reply_markup(
        chat_id=witness.chat_id, message_id=sent.message_id, reply_markup=_keyboard("again")
    )
    markup_edit = await witness.next_bot_message(timeout=2)
    assert markup_edit.method == "editMessageReplyMarkup"
    assert markup_edit.buttons == [[("AGAIN", "again")]]
    assert witness.visible_messages()[-1].edited


async def test_editing_user_or_missing_message_fails(bot: Bot, stand_in: BotApiStandIn) -> None:
    """The bot cannot edit the user's message or one that does not exist."""
    witness = stand_in.user(1001, "Ada")
    own = await witness.send_text("hello")
    with pytest.raises(BadRequest, match=r"(?i)can't be edited"):
        await bot.edit_message_text("x", chat_id=witness.chat_id, message_id=own)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=witness.chat_id, message_id=77)


async def test_callback_answer_is_recorded_once(bot: Bot, stand_in: BotApiStandIn) -> None:
    """answerCallbackQuery is stored per query and a second answer is refused."""
    witness = stand_in.user(1001, "Ada")
    await bot.send_message(witness.chat_id, "Pick", reply_markup=_keyboard("yes"))
    query_id = await witness.press("yes")
    assert stand_in.callback_answer(query_id) is None
    await bot.answer_callback_query(query_id, text="Saved")
    answer = stand_in.callback_answer(query_id)
    assert answer is not None and answer["text"] == "Saved"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(ValueError, match="no button"):
        await witness.press("not-there")


async def test_delete_message_and_messages_update_transcript(
    bot: Bot, stand_in: BotApiStandIn
) -> None:
    """deleteMessage and deleteMessages remove bot and user messages from the transcript."""
    witness = stand_in.user(1001, "Ada")
    first = await witness.send_text("my secret report")
    prompt = await bot.send_message(witness.chat_id, "Got it")
    second = await witness.send_text("more details")
    assert [m.message_id for m in witness.visible_messages()] == [
        first,
        prompt.message_id,
        second,
    ]
    assert await bot.delete_message(witness.chat_id, first)
    assert [m.sender for m in witness.visible_messages()] == ["bot", "user"]
    assert await bot.delete_messages(witness.chat_id, [prompt.message_id, second, 999])
    assert witness.visible_messages() == []
    assert witness.bot_messages() == []
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(witness.chat_id, first)


async def test_each_chat_has_its_own_message_ids(bot: Bot, stand_in: BotApiStandIn) -> None:
    """message_id sequences are per chat and shared by user and bot messages."""
    ada, bob = stand_in.user(1001, "Ada"), stand_in.user(1002, "Bob")
    assert await ada.send_text("hi") == 1
    assert await bob.send_text("hi") == 1
    assert (await bot.send_message(ada.chat_id, "hello Ada")).message_id == 2
    assert (await bot.send_message(bob.chat_id, "hello Bob")).message_id == 2
    assert await ada.send_text("again") == 3


async def test_every_call_is_recorded_in_order(bot: Bot, stand_in: BotApiStandIn) -> None:
    """Calls are recorded in order with decoded parameters and their outcome."""
    witness = stand_in.user(1001, "Ada")
    await bot.send_chat_action(witness.chat_id, ChatAction.TYPING)
    await bot.send_message(witness.chat_id, "hello", reply_markup=_keyboard("ok"))
    with pytest.raises(BadRequest):
        await bot.send_message(witness.chat_id, "x" * 5000)
    methods = [call.method for call in stand_in.calls]
    assert methods == ["getMe", "sendChatAction", "sendMessage", "sendMessage"]
    ok_call, refused = stand_in.calls_to("sendMessage")
    assert ok_call.params["chat_id"] == witness.chat_id
    assert ok_call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "OK", "callback_data": "ok"}]]
    }
    assert (ok_call.status, refused.status) == (200, 400)
    assert refused.description == "Bad Request: message is too long"
    assert stand_in.calls[0].time <= stand_in.calls[-1].time
    assert witness.last_chat_action == "typing"


async def test_bot_commands_round_trip(bot: Bot, stand_in: BotApiStandIn) -> None:
    """setMyCommands, getMyCommands and deleteMyCommands behave like Telegram."""
    await bot.set_my_commands([("start", "Begin a report"), ("cancel", "Discard the draft")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "cancel"]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Bad Command", "nope")])
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
