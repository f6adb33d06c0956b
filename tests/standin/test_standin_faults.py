"""Telegram's failure modes, as a real python-telegram-bot Bot experiences them."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
import pytest
from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from standin import BotApiStandIn, FaultKind, Faults, FloodLimits
from standin.faults import FaultInjector, FloodGate
from tests.standin.conftest import TOKEN


def _seconds(error: RetryAfter) -> float:
    value = error._retry_after  # the typed value; the public attribute warns in PTB 22.2+
    assert isinstance(value, dt.timedelta)
    return value.total_seconds()


async def test_faults_are_off_by_default(bot: Bot, stand_in: BotApiStandIn) -> None:
    """Without a Faults configuration every call succeeds and nothing is counted."""
    witness = stand_in.user(1001, "Ada")
    for number in range(20):
        await bot.send_message(witness.chat_id, f"message {number}")
    assert len(witness.take_bot_messages()) == 20
    assert stand_in.faults_injected() == 0
    assert not stand_in.faults.enabled and stand_in.flood_limits is None
    assert all(call.fault is None for call in stand_in.calls)


async def test_retry_after_is_telegrams_429_and_has_no_effect(
    bot: Bot, stand_in: BotApiStandIn
) -> None:
    """PTB raises RetryAfter with the given seconds; the message never reaches the chat."""
    witness = stand_in.user(1001, "Ada")
    stand_in.faults = Faults(retry_after_rate=1.0, retry_after=(7, 7), methods={"sendMessage"})
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(witness.chat_id, "lost")
    assert _seconds(raised.value) == 7
    assert witness.take_bot_messages() == [] and witness.visible_messages() == []
    async with aiohttp.ClientSession() as session:
        url = f"{stand_in.base_url}{TOKEN}/sendMessage"
        async with session.post(url, data={"chat_id": "1001", "text": "x"}) as response:
            assert response.status == 429
            assert await response.json() == {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": {"retry_after": 7},
            }
    assert stand_in.faults_injected(FaultKind.RETRY_AFTER, "sendMessage") == 2
    assert witness.visible_messages() == []


async def test_bad_gateway_is_a_network_error_and_has_no_effect(
    bot: Bot, stand_in: BotApiStandIn
) -> None:
    """nginx's HTML 502 reaches PTB as NetworkError("Bad Gateway ..."), not as a BadRequest."""
    witness = stand_in.user(1001, "Ada")
    stand_in.faults = Faults(bad_gateway_rate=1.0, exclude={"getMe"})
    await bot.get_me()  # excluded methods never fail
    with pytest.raises(NetworkError, match="Bad Gateway") as raised:
        await bot.send_message(witness.chat_id, "lost")
    assert not isinstance(raised.value, BadRequest | TimedOut)
    assert witness.visible_messages() == []
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{stand_in.base_url}{TOKEN}/getMyCommands") as response,
    ):
        assert response.status == 502
        assert response.content_type == "text/html"
        assert "<h1>502 Bad Gateway</h1>" in await response.text()
    assert stand_in.faults_injected(FaultKind.BAD_GATEWAY) == 2
    assert stand_in.faults_injected(method="getMe") == 0


async def test_connection_dropped_before_the_effect(bot: Bot, stand_in: BotApiStandIn) -> None:
    """A connection closed with no answer is a NetworkError; nothing was sent."""
    witness = stand_in.user(1001, "Ada")
    stand_in.faults = Faults(drop_before_rate=1.0)
    with pytest.raises(NetworkError) as raised:
        await bot.send_message(witness.chat_id, "lost")
    assert not isinstance(raised.value, TimedOut)
    assert "disconnected" in str(raised.value).lower()
    assert witness.visible_messages() == []
    [call] = stand_in.calls_to("sendMessage")
    assert call.fault == FaultKind.DROP_BEFORE and call.status is None
    stand_in.faults = Faults()
    await bot.send_message(witness.chat_id, "delivered")
    assert [m.text for m in witness.visible_messages()] == ["delivered"]


async def test_connection_dropped_after_the_effect(bot: Bot, stand_in: BotApiStandIn) -> None:
    """The message is sent and the user sees it, but the bot only sees a NetworkError."""
    witness = stand_in.user(1001, "Ada")
    stand_in.faults = Faults(drop_after_rate=1.0, methods={"sendMessage"})
    with pytest.raises(NetworkError):
        await bot.send_message(witness.chat_id, "sent, but the bot never learns it")
    assert (await witness.next_bot_message(timeout=2)).text == "sent, but the bot never learns it"
    assert stand_in.faults_injected(FaultKind.DROP_AFTER, "sendMessage") == 1


async def test_slow_answer_is_late_or_timed_out(stand_in: BotApiStandIn) -> None:
    """A slow answer arrives after the delay; past PTB's read timeout it is TimedOut, no effect."""
    witness = stand_in.user(1001, "Ada")
    stand_in.faults = Faults(slow_rate=1.0, slow_seconds=(0.6, 0.6), methods={"sendMessage"})
    patient = Bot(TOKEN, base_url=stand_in.base_url, request=HTTPXRequest(read_timeout=5))
    hasty = Bot(TOKEN, base_url=stand_in.base_url, request=HTTPXRequest(read_timeout=0.2))
    async with patient, hasty:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await patient.send_message(witness.chat_id, "late")
        assert loop.time() - started >= 0.6
        with pytest.raises(TimedOut):
            await hasty.send_message(witness.chat_id, "never")
        await asyncio.sleep(0.8)  # past the delay: the abandoned call must not take effect
    assert [m.text for m in witness.visible_messages()] == ["late"]
    assert stand_in.faults_injected(FaultKind.SLOW, "sendMessage") == 2


async def test_failing_downloads(bot: Bot, stand_in: BotApiStandIn) -> None:
    """File downloads can fail too (method name "downloadFile"), unless excluded."""
    witness = stand_in.user(1001, "Ada")
    await witness.send_document(b"evidence", file_name="e.txt", mime_type="text/plain")
    [update] = await bot.get_updates(timeout=0)
    assert update.message is not None and update.message.document is not None
    file = await update.message.document.get_file()
    stand_in.faults = Faults(bad_gateway_rate=1.0, methods={"downloadFile"})
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await file.download_as_bytearray()
    stand_in.faults = Faults(bad_gateway_rate=1.0, exclude={"downloadFile", "getFile"})
    assert bytes(await file.download_as_bytearray()) == b"evidence"
    assert stand_in.faults_injected(method="downloadFile") == 1


def test_seeded_draws_repeat_and_mix_every_kind() -> None:
    """The same seed gives the same faults; each kind turns up at about its rate."""
    faults = Faults.each(0.1, seed=42)
    first, second = FaultInjector(faults), FaultInjector(faults)
    draws = [first.draw("sendMessage") for _ in range(4000)]
    assert draws == [second.draw("sendMessage") for _ in range(4000)]
    for kind in (FaultKind.RETRY_AFTER, FaultKind.BAD_GATEWAY, FaultKind.SLOW):
        assert 300 < first.injected(kind) < 500
    for kind in (FaultKind.DROP_BEFORE, FaultKind.DROP_AFTER):
        assert 120 < first.injected(kind) < 280
    assert 1400 < sum(d is not None for d in draws) < 1800
    first.faults = faults  # assigning again re-seeds
    assert [first.draw("sendMessage") for _ in range(50)] == draws[:50]
    mixed = FaultInjector(Faults.mixed(0.2, seed=1))
    assert 650 < sum(mixed.draw("sendMessage") is not None for _ in range(4000)) < 950
    with pytest.raises(ValueError, match="add up"):
        Faults(retry_after_rate=0.6, bad_gateway_rate=0.6)


def test_flood_gate_bursts_then_paces() -> None:
    """Per chat: a burst, then one a second with an honest retry_after; overall: 30 a second."""
    now = [100.0]
    gate = FloodGate(FloodLimits(per_chat_burst=3), clock=lambda: now[0])
    assert [gate.check("sendMessage", 1) for _ in range(3)] == [None, None, None]
    assert gate.check("sendMessage", 1) == 1
    assert gate.check("getMe", 1) is None  # only sending methods count
    now[0] += 0.5
    assert gate.check("sendMessage", 1) == 1  # refused calls use up nothing
    now[0] += 0.5
    assert gate.check("sendMessage", 1) is None
    overall = FloodGate(FloodLimits(per_chat_burst=5), clock=lambda: now[0])
    passed = [overall.check("sendMessage", chat) for chat in range(40)]
    assert passed.count(None) == 30 and passed[30:] == [1] * 10
    now[0] += 0.04  # a little over 1/30 s: one more token overall
    assert overall.check("sendMessage", 99) is None
    assert overall.check("sendMessage", 98) == 1


async def test_flood_limits_reach_ptb_as_retry_after(bot: Bot, stand_in: BotApiStandIn) -> None:
    """Past the per-chat burst PTB sees RetryAfter; waiting that long is enough; no effect."""
    ada, bob = stand_in.user(1001, "Ada"), stand_in.user(1002, "Bob")
    # One message per 2 s per chat: slow enough that a loaded machine cannot refill in time.
    stand_in.flood_limits = FloodLimits(per_chat_burst=2, per_chat_per_second=0.5)
    await bot.send_message(ada.chat_id, "1")
    await bot.send_message(ada.chat_id, "2")
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(ada.chat_id, "refused")
    await bot.send_message(bob.chat_id, "other chats are not held up")
    await asyncio.sleep(_seconds(raised.value))
    await bot.send_message(ada.chat_id, "3")
    assert [m.text for m in ada.visible_messages()] == ["1", "2", "3"]
    assert stand_in.faults_injected(FaultKind.FLOOD, "sendMessage") == 1
    stand_in.flood_limits = None
    for number in range(5):
        await bot.send_message(ada.chat_id, f"unlimited {number}")
