"""Webhook mode: setWebhook as Telegram validates it, and delivery to workers with retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, Update
from telegram.error import BadRequest, Conflict

from standin import BotApiStandIn
from standin.webhook import SECRET_HEADER

Behaviour = Callable[[dict[str, Any]], "int | str"]


@dataclass
class Worker:
    """A webhook receiver on loopback that records what arrives and answers as told."""

    name: str
    behaviour: Behaviour = lambda update: 200
    received: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[str | None] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None
    in_flight: int = 0
    most_in_flight: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        update = await request.json()
        self.received.append(update)
        self.secrets.append(request.headers.get(SECRET_HEADER))
        self.content_types.append(request.content_type)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            answer = self.behaviour(update)
            if answer == "drop":
                assert request.transport is not None
                request.transport.close()
                await asyncio.sleep(5)
            if answer == "slow":
                await asyncio.sleep(5)
            return web.Response(status=int(answer))
        finally:
            self.in_flight -= 1

    def update_ids(self) -> list[int]:
        return [u["update_id"] for u in self.received]


@pytest.fixture
async def workers() -> AsyncIterator[Callable[[str], Any]]:
    runners: list[web.AppRunner] = []

    async def start(name: str) -> Worker:
        worker = Worker(name)
        app = web.Application()
        app.router.add_post("/hook", worker.handle)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        worker.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        return worker

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_set_webhook_is_validated_like_telegram(bot: Bot, stand_in: BotApiStandIn) -> None:
    """HTTPS on Telegram's ports only, a clean secret; getWebhookInfo never shows the secret."""
    with pytest.raises(BadRequest, match=r"(?i)https url must be provided"):
        await bot.set_webhook("http://bot.example/hook")
    with pytest.raises(BadRequest, match=r"(?i)ports 80, 88, 443 or 8443"):
        await bot.set_webhook("https://bot.example:9000/hook")
    with pytest.raises(BadRequest, match=r"(?i)secret token"):
        await bot.set_webhook("https://bot.example/hook", secret_token="no spaces allowed")
    stand_in.user(1001, "Ada")
    await stand_in.user(1001, "Ada").send_text("before the webhook")
    await bot.set_webhook(
        "https://bot.example:8443/hook",
        secret_token="s3cret_token-1",
        max_connections=7,
        allowed_updates=["message", "callback_query"],
    )
    info = await bot.get_webhook_info()
    assert info.url == "https://bot.example:8443/hook"
    assert info.max_connections == 7
    assert info.allowed_updates == ("message", "callback_query")
    assert "s3cret" not in str(info.to_dict())
    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook(drop_pending_updates=True)
    info = await bot.get_webhook_info()
    assert info.url == "" and info.pending_update_count == 0
    assert await bot.get_updates(timeout=0) == ()


async def test_updates_are_posted_with_the_secret(
    bot: Bot, stand_in: BotApiStandIn, workers: Callable[[str], Any]
) -> None:
    """Each update arrives once, as Telegram's JSON, with the secret header, in order."""
    worker = await workers("one")
    stand_in.webhook_targets = [worker.url]
    witness = stand_in.user(1001, "Ada")
    for number in range(3):
        await witness.send_text(f"before {number}")
    await bot.set_webhook("https://bot.example/hook", secret_token="s3cret")
    for number in range(3):
        await witness.send_text(f"after {number}")
    await stand_in.webhook.idle(timeout=10)
    texts = [u["message"]["text"] for u in worker.received]
    assert texts == [f"before {n}" for n in range(3)] + [f"after {n}" for n in range(3)]
    assert set(worker.secrets) == {"s3cret"}
    parsed = Update.de_json(worker.received[0], bot)  # what a PTB webhook handler does
    assert parsed.message is not None and parsed.message.chat.id == 1001
    assert set(worker.content_types) == {"application/json"}
    assert stand_in.webhook_stats.deliveries == 6 and stand_in.webhook_stats.failures == 0
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_workers_take_turns_and_a_chat_stays_in_order(
    bot: Bot, stand_in: BotApiStandIn, workers: Callable[[str], Any]
) -> None:
    """With two targets, one chat's updates alternate between them, never out of order."""
    first, second = await workers("first"), await workers("second")
    stand_in.webhook_targets = [first.url, second.url]
    await bot.set_webhook("https://bot.example/hook")
    witness = stand_in.user(1001, "Ada")
    for number in range(6):
        await witness.send_text(f"message {number}")
    await stand_in.webhook.idle(timeout=10)
    assert len(first.received) == len(second.received) == 3
    delivered = stand_in.webhook_stats.delivered
    assert [target for _id, target in delivered] == [first.url, second.url] * 3
    ids = [update_id for update_id, _target in delivered]
    assert ids == sorted(ids)


async def test_failures_are_retried_at_the_next_worker_with_backoff(
    bot: Bot, stand_in: BotApiStandIn, workers: Callable[[str], Any]
) -> None:
    """A 500, a dropped connection and a time-out each mean: try again later, elsewhere.

    The chat's next update waits until the failing one got a 2xx, and is delivered once.
    """
    outcomes = iter([500, "drop", "slow"])
    failing = await workers("failing")
    failing.behaviour = lambda update: next(outcomes, 200)
    healthy = await workers("healthy")
    stand_in.webhook.timeout = 1.0
    stand_in.webhook.backoff_initial = 0.1
    stand_in.webhook_targets = [failing.url]
    await bot.set_webhook("https://bot.example/hook")
    witness = stand_in.user(1001, "Ada")
    await witness.send_text("first")
    await witness.send_text("second")
    await stand_in.webhook.idle(timeout=15)
    assert [u["message"]["text"] for u in failing.received] == ["first"] * 4 + ["second"]
    stats = stand_in.webhook_stats
    assert (stats.deliveries, stats.failures, stats.retries) == (2, 3, 3)
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Read timeout expired" and info.last_error_date
    # The next target in turn gets the retry.
    outcomes = iter([503])
    stand_in.webhook_targets = [failing.url, healthy.url]
    await witness.send_text("third")
    await stand_in.webhook.idle(timeout=10)
    assert [u["message"]["text"] for u in healthy.received] == ["third"]
    assert stand_in.webhook_stats.delivered[-1][1] == healthy.url


async def test_chats_are_concurrent_up_to_max_connections(
    bot: Bot, stand_in: BotApiStandIn, workers: Callable[[str], Any]
) -> None:
    """Different chats go out at once (at most max_connections), each chat one at a time."""
    worker = await workers("held")
    worker.gate = asyncio.Event()
    stand_in.webhook_targets = [worker.url]
    await bot.set_webhook("https://bot.example/hook", max_connections=2)
    users = [stand_in.user(1001 + n, f"User {n}") for n in range(3)]
    for user in users:
        await user.send_text("one")
        await user.send_text("two")
    for _ in range(100):
        await asyncio.sleep(0.02)
        if worker.in_flight == 2:
            break
    await asyncio.sleep(0.2)
    assert worker.in_flight == 2 and stand_in.webhook.in_flight == 2
    chats = [u["message"]["chat"]["id"] for u in worker.received]
    assert chats == [1001, 1002]
    worker.gate.set()
    await stand_in.webhook.idle(timeout=10)
    assert worker.most_in_flight == 2
    for user in users:
        texts = [u["message"]["text"] for u in worker.received
                 if u["message"]["chat"]["id"] == user.chat_id]
        assert texts == ["one", "two"]


async def test_delete_webhook_stops_delivery(
    bot: Bot, stand_in: BotApiStandIn, workers: Callable[[str], Any]
) -> None:
    """After deleteWebhook nothing is posted; the updates wait for getUpdates again."""
    worker = await workers("one")
    stand_in.webhook_targets = [worker.url]
    await bot.set_webhook("https://bot.example/hook")
    await bot.delete_webhook()
    witness = stand_in.user(1001, "Ada")
    await witness.send_text("polled")
    await asyncio.sleep(0.3)
    assert worker.received == []
    [update] = await bot.get_updates(timeout=0)
    assert update.message is not None and update.message.text == "polled"


async def test_allowed_updates_and_dropping_pending_ones(
    bot: Bot, stand_in: BotApiStandIn, workers: Callable[[str], Any]
) -> None:
    """drop_pending_updates forgets what came before; allowed_updates filters what follows."""
    worker = await workers("one")
    stand_in.webhook_targets = [worker.url]
    witness = stand_in.user(1001, "Ada")
    await witness.send_text("dropped")
    await bot.set_webhook(
        "https://bot.example/hook", drop_pending_updates=True, allowed_updates=["message"]
    )
    sent = await witness.send_text("delivered")
    await witness.edit_text(sent, "an edit is not an allowed update")
    await witness.send_text("delivered too")
    await stand_in.webhook.idle(timeout=10)
    assert [u["message"]["text"] for u in worker.received] == ["delivered", "delivered too"]
