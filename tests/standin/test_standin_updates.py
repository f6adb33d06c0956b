"""getUpdates semantics and the shape of the updates fake users produce."""

from __future__ import annotations

import asyncio
import time
import warnings

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, TelegramObject, Update
from telegram.error import Conflict

from standin import BotApiStandIn


async def test_offset_confirms_and_limit_caps(bot: Bot, stand_in: BotApiStandIn) -> None:
    """offset drops earlier updates for good and limit caps the batch size."""
    witness = stand_in.user(1001, "Ada")
    for text in ("one", "two", "three"):
        await witness.send_text(text)
    first_two = await bot.get_updates(limit=2)
    assert [u.message.text for u in first_two if u.message] == ["one", "two"]
    assert first_two[1].update_id == first_two[0].update_id + 1
    rest = await bot.get_updates(offset=first_two[-1].update_id + 1)
    assert [u.message.text for u in rest if u.message] == ["three"]
    assert len(stand_in.pending_updates) == 1
    assert await bot.get_updates(offset=rest[-1].update_id + 1) == ()
    assert stand_in.pending_updates == []


async def test_negative_offset_keeps_only_the_latest(bot: Bot, stand_in: BotApiStandIn) -> None:
    """A negative offset keeps the last -offset updates and forgets the rest."""
    witness = stand_in.user(1001, "Ada")
    for text in ("one", "two", "three"):
        await witness.send_text(text)
    latest = await bot.get_updates(offset=-1)
    assert [u.message.text for u in latest if u.message] == ["three"]


async def test_long_poll_returns_when_user_writes(bot: Bot, stand_in: BotApiStandIn) -> None:
    """A waiting getUpdates returns as soon as a user sends text."""
    witness = stand_in.user(1001, "Ada")
    # Returning well inside the poll's own 60 s timeout shows the text woke it; no bound on
    # how fast, which a busy machine could miss.
    poll = asyncio.create_task(bot.get_updates(timeout=60))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await witness.send_text("hello")
    updates = await asyncio.wait_for(poll, 30)
    assert [u.message.text for u in updates if u.message] == ["hello"]


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    """A getUpdates with a timeout and no updates returns an empty list after the timeout."""
    started = time.monotonic()
    assert await asyncio.wait_for(bot.get_updates(timeout=1), 30) == ()
    assert time.monotonic() - started >= 0.9  # it waited out the timeout (never early)


async def test_newer_poll_terminates_older_one(
    bot: Bot, stand_in: BotApiStandIn, token: str
) -> None:
    """A second getUpdates ends the waiting one with 409 Conflict, like Telegram."""
    older = asyncio.create_task(bot.get_updates(timeout=60))  # ends by the conflict, not by this
    await asyncio.sleep(0.2)
    # PTB gives getUpdates its own one-connection pool, so the second poller needs its own Bot.
    async with Bot(token, base_url=stand_in.base_url) as second_instance:
        assert await second_instance.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
        await asyncio.wait_for(older, 30)


async def test_allowed_updates_filters_types(bot: Bot, stand_in: BotApiStandIn) -> None:
    """allowed_updates restricts which update types are delivered."""
    witness = stand_in.user(1001, "Ada")
    await bot.send_message(
        witness.chat_id,
        "Pick",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Y", callback_data="y")]]),
    )
    await witness.send_text("text")
    await witness.press("y")
    updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.callback_query.data for u in updates if u.callback_query] == ["y"]
    assert len(updates) == 1


async def test_redelivered_update_repeats_the_payload(bot: Bot, stand_in: BotApiStandIn) -> None:
    """redeliver_last_update queues the chat's latest update again with a new update_id."""
    ada, bob = stand_in.user(1001, "Ada"), stand_in.user(1002, "Bob")
    await bot.send_message(
        ada.chat_id,
        "Send?",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Send", callback_data="s")]]),
    )
    await ada.press("s")
    await bob.send_text("unrelated")
    first = await bot.get_updates()
    await bot.get_updates(offset=first[-1].update_id + 1)
    new_id = stand_in.redeliver_last_update(ada.chat_id)
    [again] = await bot.get_updates()
    assert again.update_id == new_id > first[-1].update_id
    assert again.callback_query is not None and first[0].callback_query is not None
    assert again.callback_query.id == first[0].callback_query.id
    assert again.callback_query.data == "s"


async def test_webhook_blocks_polling(bot: Bot) -> None:
    """While a webhook is set getUpdates fails with 409 until deleteWebhook."""
    await bot.set_webhook("https://example.invalid/hook")
    assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"
    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == ()


async def test_stop_ends_a_waiting_poll_quickly(token: str) -> None:
    """Stopping the stand-in does not wait for a pending long poll to time out."""
    server = BotApiStandIn(token)
    await server.start()
    async with Bot(token, base_url=server.base_url) as client:
        # Stopping well inside the poll's 120 s timeout shows it did not wait it out.
        poll = asyncio.create_task(client.get_updates(timeout=120))
        await asyncio.sleep(0.2)
        await asyncio.wait_for(server.stop(), 60)
        assert await asyncio.wait_for(poll, 30) == ()


async def test_updates_parse_without_warnings(bot: Bot, stand_in: BotApiStandIn) -> None:
    """Every kind of user update parses with Update.de_json and raises no warning."""
    witness = stand_in.user(1001, "Ada", username="ada", last_name="Lovelace")
    await bot.send_message(
        witness.chat_id,
        "Pick",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Y", callback_data="y")]]),
    )
    await witness.send_command("start", "deep-link")
    await witness.send_photo(b"\xff\xd8photo", caption="scene", media_group_id="g1")
    await witness.send_document(b"%PDF", file_name="a.pdf", mime_type="application/pdf")
    await witness.send_video(b"video", caption="clip")
    await witness.send_voice(b"voice")
    await witness.send_audio(b"audio", performer="P", title="T")
    await witness.send_location(52.52, 13.405)
    await witness.send_sticker()
    await witness.press("y")
    first_text = await witness.send_text("typo")
    await witness.edit_text(first_text, "fixed")
    raw = list(stand_in.pending_updates)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        updates = [Update.de_json(data, bot) for data in raw]
    messages = [u.message for u in updates if u.message]
    command = messages[0]
    assert command.text == "/start deep-link"
    assert command.entities[0].type == "bot_command" and command.entities[0].length == 6
    assert command.from_user is not None and command.from_user.language_code == "en"
    assert command.chat.type == "private" and command.chat.id == witness.user_id
    photo = messages[1]
    assert len(photo.photo) >= 2 and photo.caption == "scene" and photo.media_group_id == "g1"
    assert photo.photo[-1].width > photo.photo[0].width
    assert messages[2].document is not None and messages[2].document.file_name == "a.pdf"
    assert messages[3].video is not None and messages[3].video.to_dict()["duration"] == 5
    assert messages[4].voice is not None and messages[4].audio is None
    assert messages[5].audio is not None and messages[5].audio.title == "T"
    assert messages[6].location is not None and messages[6].location.latitude == 52.52
    assert messages[7].sticker is not None
    query = next(u.callback_query for u in updates if u.callback_query)
    assert query.data == "y" and query.chat_instance
    assert query.message is not None and query.message.reply_markup is not None
    edited = next(u.edited_message for u in updates if u.edited_message)
    assert edited.text == "fixed" and edited.edit_date is not None
    assert [problem for u in updates for problem in _unknown_fields(u, "update")] == []


def _unknown_fields(obj: object, path: str) -> list[str]:
    """Paths of fields PTB did not recognise (it keeps those in ``api_kwargs``)."""
    if isinstance(obj, tuple | list):
        return [p for i, item in enumerate(obj) for p in _unknown_fields(item, f"{path}[{i}]")]
    if not isinstance(obj, TelegramObject):
        return []
    found = [f"{path}: {sorted(obj.api_kwargs)}"] if obj.api_kwargs else []
    for cls in type(obj).__mro__[:-1]:
        for name in getattr(cls, "__slots__", ()):
            if name not in ("_bot", "_frozen", "_id_attrs", "api_kwargs"):
                found += _unknown_fields(getattr(obj, name, None), f"{path}.{name}")
    return found
