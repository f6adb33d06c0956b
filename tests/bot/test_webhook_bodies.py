"""Webhook bodies that are not what Telegram sends get 400, never a 500, and reach nothing.

Posted with the right secret to a real webhook server (aiohttp on loopback), as a proxy or an
attacker who has the secret could; a well-formed update still goes through.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import aiohttp
import pytest
from telegram import Bot, Update

from bot.telegram.webhook import SECRET_HEADER, running_webhook

SECRET = "s" * 40
TOKEN = "987654321:TEST-token-for-the-stand-in-only-xyz"
GOOD = {"update_id": 7, "message": {"message_id": 1, "date": 0, "text": "hi",
                                    "chat": {"id": 5, "type": "private"}}}

ODD: list[tuple[str, bytes]] = [
    ("a list", b"[]"),
    ("a string", b'"update"'),
    ("a number", b"12"),
    ("null", b"null"),
    ("true", b"true"),
    ("not JSON", b"{update_id: 1"),
    ("not UTF-8", b'{"update_id": 1, "x": "\xff\xfe"}'),
    ("empty", b""),
    ("no update id", b'{"message": {}}'),
    ("a text update id", b'{"update_id": "one"}'),
    ("a float update id", b'{"update_id": 1.5}'),
    ("a huge update id", b'{"update_id": 1' + b"0" * 400 + b"}"),
    ("a list for a message", b'{"update_id": 1, "message": []}'),
    ("a string for a message", b'{"update_id": 1, "message": "hi"}'),
    ("a number for the chat", json.dumps({**GOOD, "message": {**GOOD["message"],
                                                             "chat": 5}}).encode()),
    ("a list for the sender", b'{"update_id": 1, "callback_query": {"id": "1", "from": [], '
                              b'"chat_instance": "x"}}'),
    ("nested a hundred thousand deep", b'{"update_id": 1, "message": ' + b"[" * 100_000
     + b"]" * 100_000 + b"}"),
]


async def _post(url: str, body: bytes) -> int:
    async with aiohttp.ClientSession() as http, http.post(
        url, data=body, headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    ) as answer:
        return answer.status


@pytest.mark.parametrize(("what", "body"), ODD, ids=[what for what, _ in ODD])
async def test_a_body_telegram_never_sends_gets_400(what: str, body: bytes) -> None:
    """Each odd body: 400, and nothing is processed."""
    processed: list[Sequence[Update]] = []

    async def process(updates: Sequence[Update]) -> None:
        processed.append(updates)

    bot = Bot(TOKEN)
    async with running_webhook(bot, process, secret=SECRET, host="127.0.0.1", port=0,
                               path="/telegram", public_url=None) as port:
        url = f"http://127.0.0.1:{port}/telegram"
        assert await _post(url, body) == 400, what
        assert processed == []
        assert await _post(url, json.dumps(GOOD).encode()) == 200
    assert [u.update_id for batch in processed for u in batch] == [7]
