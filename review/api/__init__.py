"""The reviewer API: ciphertext and minimal metadata over HTTP, for reviewers' own machines.

Served by `intake api serve` (or alongside the bot by `intake serve` when INTAKE_API_LISTEN is
set). It binds to 127.0.0.1 unless told otherwise; off loopback it speaks TLS (its own
certificate) or, only when the administrator says a TLS proxy is in front, plain HTTP
(`plain_http_refusal`). The routes and their roles are
in `routes.ROUTES`; the OpenAPI 3.1 description beside this file lists the same routes.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import AsyncIterator

from aiohttp import web

from review.api.app import (
    CLIENT_MAX_SIZE,
    Context,
    Route,
    build_app,
    is_loopback,
    plain_http_refusal,
)
from review.api.routes import ROUTES
from review.audit import AuditTrail
from storage import Storage

log = logging.getLogger("intake.api")

DEFAULT_LISTEN = "127.0.0.1:8443"


def create_app(storage: Storage, audit: AuditTrail, custody_key: bytes) -> web.Application:
    return build_app(ROUTES, Context(storage, audit, custody_key))


def parse_listen(text: str) -> tuple[str, int]:
    """'host:port' (or '[v6]:port') -> (host, port); ValueError with the fix otherwise."""
    host, sep, port_text = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("must be HOST:PORT, for example 127.0.0.1:8443")
    return host, int(port_text)


@contextlib.asynccontextmanager
async def running_api(
    app: web.Application, host: str, port: int, *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """Serve `app` on host:port (over TLS with `tls`) until the block ends; yields the bound
    port (0 picks one)."""
    # No access log: request paths carry report ids, which are fine, but nothing is gained by
    # a second log of who looked at what beside the audit trail.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=tls)
        await site.start()
    except BaseException:
        await runner.cleanup()  # never started: nothing to announce as stopped
        raise
    try:
        # aiohttp does not expose the bound port otherwise (needed when port 0 picks one).
        sockets = getattr(site._server, "sockets", None)
        bound = int(sockets[0].getsockname()[1]) if sockets else port
        log.info("api.started", extra={"port": bound})
        yield bound
    finally:
        await runner.cleanup()
        log.info("api.stopped")


__all__ = [
    "CLIENT_MAX_SIZE",
    "DEFAULT_LISTEN",
    "ROUTES",
    "Route",
    "create_app",
    "is_loopback",
    "parse_listen",
    "plain_http_refusal",
    "running_api",
]
