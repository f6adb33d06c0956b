"""Webhook mode: Telegram POSTs each update; we answer 200 only after it is committed.

Runs behind a TLS reverse proxy (Telegram only calls https URLs); several workers may sit
behind it, sharing one PostgreSQL, since every update takes its chat's lock in the database.
A non-2xx answer makes Telegram deliver the update again later, so an update whose processing
failed is never lost; one that was committed and is delivered again finds its mark and only
finishes sending its messages.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from telegram import Bot, Update

from bot.telegram.health import HealthMonitor, add_routes
from bot.telegram.polling import ALLOWED_UPDATES, Admit, Process, is_infrastructure
from storage.errors import REFUSED_HINT, refused_connection

log = logging.getLogger("intake.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
# Telegram's updates are small; files arrive as ids, never inline.
_MAX_BODY = 1024 * 1024
_ATTEMPTS_ON_BUG = 3


def update_from(body: bytes, bot: Bot) -> Update | None:
    """The update in a body shaped as Telegram sends one (a JSON object with a whole-number
    update_id, every field of the type the Bot API gives it); None for anything else."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond reason
        return None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if type(update_id) is not int or not 0 <= update_id < 2**63:
        return None
    try:
        return Update.de_json(data, bot)
    except Exception:  # python-telegram-bot fails as a field of the wrong shape makes it fail
        return None


Handler = Callable[[web.Request], Awaitable[web.Response]]


def receiver(bot: Bot, process: Process, *, secret: str, admit: Admit = lambda _u: True
             ) -> Handler:
    """The handler of one bot's webhook: its secret checked, each update committed, then 200."""
    expected = secret.encode()
    # Failures of our own code per update id: Telegram sends a chat's updates one after the
    # other, so an update that can never succeed would block that witness for a day.
    failures: dict[int, int] = {}

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("webhook.refused")
            return web.Response(status=401)
        update = update_from(await request.read(), bot)
        if update is None:
            log.warning("webhook.malformed")
            return web.Response(status=400)
        if not admit(update):
            return web.Response(status=200)  # flood: dropped on purpose, not to be retried
        try:
            await process([update])
        except Exception as error:
            if not is_infrastructure(error):
                failures[update.update_id] = failures.get(update.update_id, 0) + 1
                if failures[update.update_id] >= _ATTEMPTS_ON_BUG:
                    failures.pop(update.update_id, None)
                    log.error("update.abandoned", extra={"error": type(error)})
                    return web.Response(status=200)
            if refused_connection(error):
                log.warning(REFUSED_HINT)
            # Telegram will deliver it again; whatever of it was committed is marked done.
            log.warning("webhook.failed", extra={"error": type(error)})
            return web.Response(status=503)
        failures.pop(update.update_id, None)
        return web.Response(status=200)

    return receive


class WebhookRoutes:
    """The webhooks of channels' own bots, at `<path>/<bot tag>` on the same server: added
    and removed while it runs (an unknown tag is a 404, which Telegram tries again later)."""

    def __init__(self) -> None:
        self._by_tag: dict[str, Handler] = {}

    def add(self, tag: str, handler: Handler) -> None:
        self._by_tag[tag] = handler

    def remove(self, tag: str) -> None:
        self._by_tag.pop(tag, None)

    async def dispatch(self, request: web.Request) -> web.Response:
        handler = self._by_tag.get(request.match_info["bot"])
        if handler is None:
            return web.Response(status=404)
        return await handler(request)


def bot_path(path: str, tag: str) -> str:
    """Where a channel's own bot gets its updates: beside the deployment bot's path."""
    return f"{path.rstrip('/')}/{tag}"


def webhook_app(
    bot: Bot, process: Process, *, secret: str, path: str, admit: Admit = lambda _u: True,
    health: HealthMonitor | None = None, routes: WebhookRoutes | None = None,
) -> web.Application:
    app = web.Application(client_max_size=_MAX_BODY)
    app.router.add_post(path, receiver(bot, process, secret=secret, admit=admit))
    if routes is not None:
        app.router.add_post(bot_path(path, "{bot}"), routes.dispatch)
    if health is not None:
        add_routes(app, health)  # /healthz, /readyz, /metrics: the proxy passes /telegram only
    return app


async def register_webhook(bot: Bot, url: str, *, secret: str, max_connections: int) -> None:
    await bot.set_webhook(
        url,
        secret_token=secret,
        allowed_updates=list(ALLOWED_UPDATES),
        max_connections=max_connections,
    )


@asynccontextmanager
async def running_webhook(
    bot: Bot,
    process: Process,
    *,
    secret: str,
    host: str,
    port: int,
    path: str,
    public_url: str | None,
    max_connections: int = 40,
    admit: Admit = lambda _u: True,
    health: HealthMonitor | None = None,
    routes: WebhookRoutes | None = None,
) -> AsyncIterator[int]:
    """Serve the webhook on host:port; register `public_url` with Telegram if given.

    Yields the bound port. The webhook is left registered on exit: another worker may still be
    serving it, and a restarted one must find it in place.
    """
    runner = web.AppRunner(
        webhook_app(bot, process, secret=secret, path=path, admit=admit, health=health,
                    routes=routes),
        access_log=None,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
        if public_url is not None:
            await register_webhook(bot, public_url, secret=secret,
                                   max_connections=max_connections)
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        log.info("webhook.listening")
        yield int(bound)
    finally:
        await runner.cleanup()
