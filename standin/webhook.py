"""Webhook mode: setWebhook, deleteWebhook, getWebhookInfo, and delivering updates by POST.

While a webhook is set, the stand-in POSTs each pending update as JSON to the webhook URL (or,
when a test sets :attr:`WebhookDelivery.targets`, to those URLs in turn, as a proxy in front of
several workers would spread them), with the ``X-Telegram-Bot-Api-Secret-Token`` header. An
update leaves the queue only on a 2xx answer; a non-2xx answer, a dropped connection or a
time-out means the same update is tried again after a back-off, at the next target in turn.
A chat's updates go out in order (its next update only after the previous one got a 2xx);
different chats are delivered concurrently, up to the webhook's ``max_connections``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from standin.models import ApiError, JSONDict
from standin.params import Params
from standin.state import StandInState

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})


# -- the Bot API methods ---------------------------------------------------------------------


async def set_webhook(state: StandInState, params: Params) -> bool:
    """setWebhook: url (empty removes it), secret_token, max_connections, allowed_updates."""
    url = params.str_("url", required=True) or ""
    if not url:
        state.webhook, state.webhook_secret = None, None
        if params.bool_("drop_pending_updates"):
            state.drop_pending_updates()
        return True
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ApiError.bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    if (parts.port or 443) not in _WEBHOOK_PORTS:
        raise ApiError.bad_request(
            "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
        )
    secret = params.str_("secret_token")
    if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
        raise ApiError.bad_request("secret token contains unallowed characters")
    allowed: list[str] | None = None
    if params.has("allowed_updates"):
        value = params.json_("allowed_updates", "can't parse allowed updates")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ApiError.bad_request("can't parse allowed updates")
        allowed = value
    if params.bool_("drop_pending_updates"):
        state.drop_pending_updates()
    connections = params.int_("max_connections")
    webhook: JSONDict = {
        "url": url,
        "max_connections": 40 if connections is None else min(100, max(1, connections)),
    }
    if allowed is not None:
        state.allowed_updates = allowed or None
    if state.allowed_updates:
        webhook["allowed_updates"] = list(state.allowed_updates)
    state.webhook, state.webhook_secret = webhook, secret
    state.notify()
    return True


async def delete_webhook(state: StandInState, params: Params) -> bool:
    """deleteWebhook, optionally dropping pending updates."""
    if params.bool_("drop_pending_updates"):
        state.drop_pending_updates()
    state.webhook, state.webhook_secret = None, None
    return True


async def get_webhook_info(state: StandInState, params: Params) -> JSONDict:
    """getWebhookInfo (the secret token is never shown)."""
    info: JSONDict = {"url": "", "has_custom_certificate": False}
    info.update(state.webhook or {})
    info["pending_update_count"] = len(state.updates)
    return info


# -- delivery --------------------------------------------------------------------------------


@dataclass
class WebhookStats:
    """What webhook delivery did, for tests to assert on."""

    #: Attempts answered with a 2xx (each update counts once).
    deliveries: int = 0
    #: Attempts that failed: a non-2xx answer, a dropped or refused connection, a time-out.
    failures: int = 0
    #: Attempts that repeated an update after a failed attempt.
    retries: int = 0
    #: 2xx deliveries per target URL.
    by_target: Counter[str] = field(default_factory=Counter)
    #: ``(update_id, target)`` of every 2xx delivery, in order.
    delivered: list[tuple[int, str]] = field(default_factory=list)


def _chat_key(update: JSONDict) -> str:
    """The chat whose updates must stay in order (updates without a chat go alone)."""
    kind = next(k for k in update if k != "update_id")
    payload = update[kind]
    if isinstance(payload, dict):
        message = payload.get("message") if kind == "callback_query" else payload
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return f"chat:{message['chat'].get('id')}"
        sender = payload.get("from")
        if isinstance(sender, dict):
            return f"user:{sender.get('id')}"
    return f"update:{update['update_id']}"


class WebhookDelivery:
    """POSTs pending updates to the webhook while one is set; see the module docstring.

    Attributes tests may change at any time: ``targets`` (worker URLs used in turn instead of
    the set URL; ``None``: the set URL), ``timeout`` (seconds before an attempt counts as
    failed), ``backoff_initial``/``backoff_max`` (seconds; doubled per failure of a chat's
    update) and ``ssl`` (passed to aiohttp for https targets).
    """

    def __init__(self, state: StandInState) -> None:
        self._state = state
        self.targets: list[str] | None = None
        self.timeout = 10.0
        self.backoff_initial = 0.25
        self.backoff_max = 5.0
        self.ssl: ssl.SSLContext | bool = True
        self.stats = WebhookStats()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._busy: set[str] = set()
        self._failed: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        self._turn = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        state.listeners.append(self._signal)

    def _signal(self) -> None:
        self._wake.set()
        self._progress.set()

    @property
    def in_flight(self) -> int:
        """Deliveries currently waiting for an answer."""
        return len(self._busy)

    async def start(self) -> None:
        """Start the delivery loop (idle while no webhook is set)."""
        self._session = aiohttp.ClientSession()
        self._loop_task = asyncio.create_task(self._run(), name="standin-webhook")

    async def stop(self) -> None:
        """Stop delivering; attempts in flight are abandoned (their updates stay queued)."""
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loop_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until no update is pending or in flight (TimeoutError after ``timeout``)."""
        async with asyncio.timeout(timeout):
            while self._state.updates or self._busy:
                self._progress.clear()
                await self._progress.wait()

    def _targets(self) -> list[str]:
        if self.targets:
            return list(self.targets)
        webhook = self._state.webhook
        return [str(webhook["url"])] if webhook else []

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            next_due = self._launch(loop.time())
            wait = None if next_due is None else max(0.0, next_due - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _launch(self, now: float) -> float | None:
        """Start every delivery that may start now; returns when a back-off next ends."""
        state = self._state
        targets = self._targets()
        if state.webhook is None or not targets:
            return None
        state.updates = [u for u in state.updates if state.is_allowed(u)]
        limit = int(state.webhook.get("max_connections", 40))
        seen: set[str] = set()
        next_due: float | None = None
        for update in list(state.updates):
            key = _chat_key(update)
            if key in seen:
                continue  # only a chat's oldest pending update may go out
            seen.add(key)
            if key in self._busy:
                continue
            due = self._not_before.get(key, 0.0)
            if due > now:
                next_due = due if next_due is None else min(next_due, due)
                continue
            if len(self._busy) >= limit:
                break
            target = targets[self._turn % len(targets)]
            self._turn += 1
            self._busy.add(key)
            task = asyncio.create_task(self._deliver(update, key, target))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return next_due

    async def _deliver(self, update: JSONDict, key: str, target: str) -> None:
        if key in self._failed:
            self.stats.retries += 1
        headers = {SECRET_HEADER: self._state.webhook_secret} if self._state.webhook_secret else {}
        error: str | None = None
        try:
            assert self._session is not None
            async with self._session.post(
                target,
                json=update,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                ssl=self.ssl,
            ) as response:
                await response.read()
                if not 200 <= response.status < 300:
                    error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientError as failure:
            error = f"Connection failed: {type(failure).__name__}"
        finally:
            self._busy.discard(key)
        if error is None:
            self._delivered(update, key, target)
        else:
            self._failure(key, error)
        self._signal()

    def _delivered(self, update: JSONDict, key: str, target: str) -> None:
        state = self._state
        for index, queued in enumerate(state.updates):
            if queued is update:
                del state.updates[index]
                break
        self._failed.pop(key, None)
        self._not_before.pop(key, None)
        self.stats.deliveries += 1
        self.stats.by_target[target] += 1
        self.stats.delivered.append((int(update["update_id"]), target))

    def _failure(self, key: str, error: str) -> None:
        state = self._state
        failures = self._failed.get(key, 0) + 1
        self._failed[key] = failures
        delay = min(self.backoff_max, self.backoff_initial * 2 ** (failures - 1))
        self._not_before[key] = asyncio.get_running_loop().time() + delay
        self.stats.failures += 1
        if state.webhook is not None:
            state.webhook["last_error_date"] = state.now()
            state.webhook["last_error_message"] = error
