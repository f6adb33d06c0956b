"""Is the bot healthy? /healthz (alive), /readyz (ready to serve) and /metrics (Prometheus).

A sampler task checks, every few seconds, that the database answers, that the Bot API was
reached recently and that the outbox is not stuck, and sets the metrics' gauges; the
endpoints only read its last snapshot, so a scrape never opens a connection and a stalled
event loop shows as "not ready" (its snapshot grows old).

Where they listen (README, "Health and metrics"): a polling bot on INTAKE_HEALTH_LISTEN
(default 127.0.0.1:9464) from a small server thread of prometheus-client's, so a polling bot
still loads no aiohttp; webhook workers beside /telegram on their INTAKE_WEBHOOK_LISTEN, which
the reverse proxy does not pass on (deploy/Caddyfile passes /telegram only).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.exposition import ThreadingWSGIServer
from telegram import Bot

from bot import metrics
from storage import Storage

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("intake.health")

SAMPLE_SECONDS = 5.0
# getMe when nothing else showed the Bot API reachable for this long.
BOT_API_PROBE_SECONDS = 30.0
# Not ready when the Bot API has not answered for this long ...
BOT_API_STALE_SECONDS = 90.0
# ... or the outbox held messages and sent none of them for this long ...
OUTBOX_STUCK_SECONDS = 300.0
# ... or the sampler itself has not run for this long (the event loop is stuck).
SNAPSHOT_STALE_SECONDS = 30.0


@dataclass
class Snapshot:
    taken: float = 0.0
    database_ok: bool = False
    bot_api_seen: float = 0.0
    outbox_depth: int = 0
    outbox_progress: float = field(default_factory=time.monotonic)


class HealthListenError(Exception):
    """The health address cannot be bound; the message is the system's reason."""


@dataclass(frozen=True)
class ChannelBots:
    """What the monitor asks about channels' own bots (bot/telegram/bots.py): the running ones
    by their tag (the last part of their webhook path, shown by `intake channel show`), and
    how many a channel names that could not be started."""

    running: Callable[[], Sequence[tuple[str, Bot]]]
    not_started: Callable[[], int]


class HealthMonitor:
    def __init__(self, storage: Storage, bot: Bot, *, clock: Callable[[], float] = time.monotonic,
                 channel_bots: ChannelBots | None = None) -> None:
        self._storage = storage
        self._bot = bot
        self._clock = clock
        self._channel_bots = channel_bots
        self.snapshot = Snapshot(outbox_progress=clock())
        # When each channel bot last answered, by tag; a bot is first seen as it starts (its
        # start asked getMe).
        self._channel_seen: dict[str, float] = {}

    def problems(self) -> list[str]:
        """Why the bot is not ready, in words for an operator; empty when it is."""
        now = self._clock()
        shot = self.snapshot
        if now - shot.taken > SNAPSHOT_STALE_SECONDS:
            return ["health checks have not run recently (starting, or the process is stuck)"]
        found = []
        if not shot.database_ok:
            found.append("database unreachable")
        if now - shot.bot_api_seen > BOT_API_STALE_SECONDS:
            found.append(f"Bot API not reached for {BOT_API_STALE_SECONDS:.0f} s")
        if shot.outbox_depth and now - shot.outbox_progress > OUTBOX_STUCK_SECONDS:
            found.append(f"outbox stuck: nothing sent for {OUTBOX_STUCK_SECONDS:.0f} s")
        if self._channel_bots is not None:
            for tag, seen in sorted(self._channel_seen.items()):
                if now - seen > BOT_API_STALE_SECONDS:
                    found.append(f"channel bot {tag}: Bot API not reached for "
                                 f"{BOT_API_STALE_SECONDS:.0f} s")
            if missing := self._channel_bots.not_started():
                found.append(f"{missing} channel bot(s) could not start: see bot.start_failed "
                             "in the log and `intake channel show SLUG`")
        return found

    async def sample(self) -> None:
        """One round of checks; the snapshot and gauges then describe now."""
        now = self._clock()
        shot = self.snapshot
        try:
            await self._storage.health.ping()
            depth = await self._storage.health.outbox_depth()
            if depth == 0 or depth < shot.outbox_depth:
                shot.outbox_progress = now
            shot.outbox_depth = depth
            metrics.OUTBOX_DEPTH.set(depth)
            await self._day_gauges()
            shot.database_ok = True
        except Exception as error:  # the database is down or failing: report it, keep going
            shot.database_ok = False
            log.warning("health.database_unreachable", extra={"error": type(error)})
        if now - shot.bot_api_seen > BOT_API_PROBE_SECONDS:
            try:
                await asyncio.wait_for(self._bot.get_me(), 10.0)
                shot.bot_api_seen = self._clock()
            except Exception as error:
                log.info("health.bot_api_unreachable", extra={"error": type(error)})
        await self._probe_channel_bots(now)
        metrics.DATABASE_UP.set(1 if shot.database_ok else 0)
        metrics.BOT_API_UP.set(1 if now - shot.bot_api_seen <= BOT_API_STALE_SECONDS else 0)
        shot.taken = self._clock()

    async def _probe_channel_bots(self, now: float) -> None:
        if self._channel_bots is None:
            return
        running = dict(self._channel_bots.running())
        self._channel_seen = {tag: self._channel_seen.get(tag, now) for tag in running}
        for tag, bot in running.items():
            if now - self._channel_seen[tag] <= BOT_API_PROBE_SECONDS:
                continue
            try:
                await asyncio.wait_for(bot.get_me(), 10.0)
                self._channel_seen[tag] = self._clock()
            except Exception as error:
                log.info("health.channel_bot_unreachable", extra={"error": type(error)})

    async def _day_gauges(self) -> None:
        yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        metrics.REPORTS_STORED_LAST_DAY.set(await self._storage.health.reports_on(yesterday))
        anchored = await self._storage.health.last_anchoring()
        metrics.LAST_ANCHORING.set(anchored.timestamp() if anchored is not None else 0)
        metrics.DAYS_AWAITING_ANCHORING.set(await self._storage.health.days_awaiting_anchoring())

    async def run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(SAMPLE_SECONDS)

    def answer(self, path: str) -> tuple[int, str, bytes] | None:
        """(status, content type, body) for one of our paths; None for any other path."""
        if path == "/healthz":
            return 200, "text/plain; charset=utf-8", b"alive\n"
        if path == "/readyz":
            problems = self.problems()
            if problems:
                return 503, "text/plain; charset=utf-8", ("not ready: " + "; ".join(problems)
                                                          + "\n").encode()
            return 200, "text/plain; charset=utf-8", b"ready\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(metrics.REGISTRY)
        return None


def add_routes(app: web.Application, monitor: HealthMonitor) -> None:
    """The three paths on an aiohttp application (the webhook's)."""
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        status, kind, body = monitor.answer(request.path) or (404, "text/plain", b"")
        return web.Response(status=status, body=body, headers={"Content-Type": kind})

    for path in ("/healthz", "/readyz", "/metrics"):
        app.router.add_get(path, handle)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log: a line per scrape says nothing, and stderr is the bot's log."""


@contextlib.asynccontextmanager
async def serving_health(monitor: HealthMonitor, host: str, port: int) -> AsyncIterator[int]:
    """Serve the three paths on host:port from a server thread; yields the bound port.

    OSError when the address cannot be bound (the caller names the setting).
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        found = monitor.answer(str(environ.get("PATH_INFO", "")))
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or found is None:
            found = (404, "text/plain; charset=utf-8", b"not found\n")
        status, kind, body = found
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
        start_response(f"{status} {reason}", [("Content-Type", kind),
                                              ("Content-Length", str(len(body)))])
        return [body]

    class Server(ThreadingWSGIServer):
        daemon_threads = True

    if ":" in host:
        import socket

        Server.address_family = socket.AF_INET6
    try:
        server = make_server(host, port, app, Server, handler_class=_QuietHandler)
    except OSError as error:
        import os

        raise HealthListenError(os.strerror(error.errno).lower() if error.errno else "refused"
                                ) from None
    thread = threading.Thread(target=server.serve_forever, name="health", daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        await asyncio.to_thread(server.shutdown)  # waits for its loop's next turn (0.5 s)
        server.server_close()


@contextlib.asynccontextmanager
async def monitoring(monitor: HealthMonitor) -> AsyncIterator[HealthMonitor]:
    """The sampler, running for the duration."""
    task = asyncio.create_task(monitor.run())
    try:
        yield monitor
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
