"""The Bot API over aiohttp (bot/telegram/bot_api_http.py), through a real python-telegram-bot
`Bot`, against a small HTTP server on loopback that records what arrives."""

from __future__ import annotations

import asyncio
import socket
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import BodyPartReader, web
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bot.telegram.bot_api_http import AiohttpRequest

TOKEN = "123456:AAH-the-token-must-never-show-in-an-error"
_USER = {"id": 123456, "is_bot": True, "first_name": "Intake", "username": "intake_bot"}


@dataclass
class _Server:
    url: str
    delay: float = 0.0
    in_flight: int = 0
    most_in_flight: int = 0
    requests: list[tuple[str, str, dict[str, object]]] = field(default_factory=list)


async def _answer(server: _Server, request: web.Request) -> web.Response:
    server.in_flight += 1
    server.most_in_flight = max(server.most_in_flight, server.in_flight)
    try:
        fields: dict[str, object] = {}
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if isinstance(part, BodyPartReader) and part.name:
                    data = bytes(await part.read())
                    fields[part.name] = (part.filename, data) if part.filename else data.decode()
        else:
            fields = dict(await request.post())
        server.requests.append((request.path.rsplit("/", 1)[-1],
                                request.headers.get("User-Agent", ""), fields))
        await asyncio.sleep(server.delay)
        method = request.path.rsplit("/", 1)[-1]
        result: object = _USER
        if method.startswith("send"):
            result = {"message_id": 7, "date": 0, "chat": {"id": 42, "type": "private"}}
        return web.json_response({"ok": True, "result": result})
    finally:
        server.in_flight -= 1


@asynccontextmanager
async def _server() -> AsyncIterator[_Server]:
    server = _Server(url="")

    async def answer(request: web.Request) -> web.Response:
        return await _answer(server, request)

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _bot(url: str, request: AiohttpRequest) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot", request=request,
              get_updates_request=AiohttpRequest(connections=1, read_timeout=5.0))
    await bot.initialize()
    try:
        yield bot
    finally:
        await bot.shutdown()


async def test_parameters_files_and_user_agent_arrive_as_ptb_sends_them() -> None:
    """Plain parameters are a form, a file makes the call multipart; PTB's User-Agent."""
    async with _server() as server, _bot(server.url, AiohttpRequest(
        connections=2, read_timeout=5.0)) as bot:
        await bot.send_message(42, "hello", protect_content=True)
        await bot.send_document(42, b"evidence bytes", filename="notes.txt", caption="c")
    _get_me, text, document = server.requests
    assert text[0] == "sendMessage" and text[2]["text"] == "hello"
    assert text[2]["protect_content"] == "true"
    assert "python-telegram-bot" in text[1]
    assert document[0] == "sendDocument"
    assert document[2]["document"] == ("notes.txt", b"evidence bytes")
    assert document[2]["caption"] == "c" and document[2]["chat_id"] == "42"


async def test_the_pool_holds_at_most_its_connections_and_the_others_wait() -> None:
    """With 2 connections, 6 calls at once all succeed, never more than 2 at the server."""
    async with _server() as server, _bot(server.url, AiohttpRequest(
        connections=2, read_timeout=5.0, pool_timeout=30.0)) as bot:
        server.delay = 0.1
        await asyncio.gather(*(bot.send_message(42, f"m{n}") for n in range(6)))
    assert len(server.requests) == 7
    assert server.most_in_flight == 2


async def test_a_late_answer_is_timed_out_and_the_error_holds_no_token() -> None:
    """An answer later than the read time-out raises TimedOut (the sender retries it); neither
    its message nor a chained error quotes the URL."""
    async with _server() as server, _bot(server.url, AiohttpRequest(
        connections=2, read_timeout=5.0)) as bot:
        server.delay = 2.0
        with pytest.raises(TimedOut) as raised:
            await bot.send_message(42, "late", read_timeout=0.2)
    _assert_no_token(raised.value)


async def test_a_refused_connection_is_a_network_error_that_holds_no_token() -> None:
    """Nothing listening: NetworkError (not a time-out), without the URL in it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest(connections=1, read_timeout=5.0)
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request,
              get_updates_request=AiohttpRequest(connections=1, read_timeout=5.0))
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as raised:
            await bot.get_me()
    finally:
        await request.shutdown()
    assert not isinstance(raised.value, TimedOut)
    _assert_no_token(raised.value)


async def test_a_wait_for_a_free_connection_timed_out_holds_no_token() -> None:
    """The one connection busy, a second call gives up waiting for it: aiohttp's own error for
    that quotes the whole URL, token included; none of it reaches the TimedOut raised, nor
    anything chained to it."""
    async with _server() as server, _bot(server.url, AiohttpRequest(
        connections=1, read_timeout=5.0, connect_timeout=0.2, pool_timeout=0.1)) as bot:
        server.delay = 2.0
        busy = asyncio.create_task(bot.send_message(42, "slow"))
        await asyncio.sleep(0.3)
        with pytest.raises(TimedOut) as raised:
            await bot.send_message(42, "waits")
        await busy
    _assert_no_token(raised.value)


def _assert_no_token(error: BaseException) -> None:
    """Not in the error, nor in the traceback a log line would print with it, nor in any error
    chained to it (as cause or as context)."""
    secret = TOKEN.split(":")[1]
    seen: BaseException | None = error
    while seen is not None:
        assert secret not in str(seen) and secret not in repr(seen), repr(seen)
        seen = seen.__cause__ or seen.__context__
    assert secret not in "".join(traceback.format_exception(error))
