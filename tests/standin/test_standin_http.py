"""Raw HTTP behaviour: tokens, unknown methods, body formats and malformed requests."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from standin import BotApiStandIn
from standin.methods import METHODS


async def _post(
    stand_in: BotApiStandIn, method: str, token: str | None = None, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    url = f"{stand_in.base_url}{token or stand_in.token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, **kwargs) as response:
        return response.status, await response.json()


async def test_tokens_and_unknown_methods(stand_in: BotApiStandIn) -> None:
    """Wrong tokens give 401, malformed tokens and unknown methods give 404 Not Found."""
    assert await _post(stand_in, "getMe", token="123:wrong") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    not_found = (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert await _post(stand_in, "getMe", token="garbage") == not_found
    assert await _post(stand_in, "sendPigeon") == not_found
    async with aiohttp.ClientSession() as session, session.get(stand_in.root_url) as response:
        assert response.status == 404
    status, body = await _post(stand_in, "GETME")
    assert status == 200 and body["result"]["username"] == "intake_test_bot"


async def test_json_and_query_string_bodies(stand_in: BotApiStandIn) -> None:
    """JSON bodies and query-string parameters are accepted as well as forms."""
    chat_id = stand_in.user(1001, "Ada").chat_id
    status, body = await _post(stand_in, "sendMessage", json={"chat_id": chat_id, "text": "hi"})
    assert (status, body["result"]["text"]) == (200, "hi")
    status, body = await _post(stand_in, "sendMessage", params={"chat_id": chat_id, "text": "q"})
    assert (status, body["result"]["message_id"]) == (200, 2)
    form = aiohttp.FormData({"chat_id": str(chat_id), "text": "multi"})
    form.add_field("extra", b"bytes", filename="x.bin")
    status, body = await _post(stand_in, "sendMessage", data=form)
    assert (status, body["result"]["text"]) == (200, "multi")


@pytest.mark.parametrize(
    ("method", "kwargs", "description"),
    [
        ("sendMessage", {"data": b"{nope", "headers": {"Content-Type": "application/json"}}, ""),
        ("sendMessage", {"data": b"[1, 2]", "headers": {"Content-Type": "application/json"}}, ""),
        (
            "sendMessage",
            {
                "data": b"chat_id=1&text=%FF",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            "Bad Request: strings must be encoded in UTF-8",
        ),
        (
            "sendMessage",
            {
                "data": b"--x\r\nbroken",
                "headers": {"Content-Type": "multipart/form-data; boundary=x"},
            },
            "",
        ),
        ("sendMessage", {"data": {}}, "Bad Request: chat_id is empty"),
        ("sendMessage", {"data": {"chat_id": "abc", "text": "t"}}, "Bad Request: chat not found"),
        (
            "sendMessage",
            {"data": {"chat_id": "1001", "text": "t", "reply_markup": "{broken"}},
            "Bad Request: can't parse reply keyboard markup JSON object",
        ),
        (
            "sendMessage",
            {"data": {"chat_id": "1001", "text": "t", "reply_markup": '{"inline_keyboard": 5}'}},
            "",
        ),
        ("deleteMessage", {"data": {"chat_id": "1001", "message_id": "x"}}, ""),
        ("deleteMessages", {"data": {"chat_id": "1001", "message_ids": '[1, "a"]'}}, ""),
        ("getUpdates", {"data": {"offset": "zz"}}, ""),
        ("getUpdates", {"data": {"timeout": "NaN"}}, ""),
        ("getFile", {"data": {}}, "Bad Request: invalid file_id"),
        ("answerCallbackQuery", {"data": {"callback_query_id": "nope"}}, ""),
        ("sendChatAction", {"data": {"chat_id": "1001", "action": "dancing"}}, ""),
    ],
)
async def test_malformed_requests_get_400(
    stand_in: BotApiStandIn, method: str, kwargs: dict[str, Any], description: str
) -> None:
    """Malformed bodies and bad parameters get a 400 Bot API error, never a 500."""
    stand_in.user(1001, "Ada")
    status, body = await _post(stand_in, method, **kwargs)
    assert status == 400
    assert body["ok"] is False and body["error_code"] == 400
    assert body["description"].startswith("Bad Request: ")
    if description:
        assert body["description"] == description
    assert stand_in.calls[-1].status == 400


async def test_garbage_parameters_never_crash(stand_in: BotApiStandIn) -> None:
    """Every method answers garbage values of common parameters without an internal error."""
    stand_in.user(1001, "Ada")
    garbage = ["", "null", "[]", "{}", "[1,2]", '"x"', "true", "1e400", "-5", "\x00", "é" * 70]
    names = [
        "chat_id",
        "text",
        "message_id",
        "message_ids",
        "reply_markup",
        "offset",
        "limit",
        "timeout",
        "allowed_updates",
        "file_id",
        "commands",
        "scope",
        "parse_mode",
        "callback_query_id",
        "action",
        "url",
        "entities",
        "reply_parameters",
    ]
    for method in METHODS:
        for value in garbage:
            data = {name: value for name in names}
            data["chat_id"] = "1001" if value == "" else value
            status, body = await _post(stand_in, method, data=data)
            assert status in (200, 400, 403, 404, 409), (method, value, body)
            assert body["ok"] is (status == 200)
    assert stand_in.internal_errors == []
    assert json.dumps([c.params for c in stand_in.calls], default=repr)
