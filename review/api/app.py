"""The reviewer API's application: bearer authentication, roles, JSON errors, size limits.

Every request is authenticated before routing is trusted: an unknown path without credentials
is a 401, not a 404, so the route table cannot be probed anonymously. Each route declares the
role it needs; the credential is looked up on every request, so a revoked token stops working
at the next request. Errors are always `{"error": "..."}` with a message that says what to fix.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from review.audit import AuditTrail
from review.local import (
    AccessDeniedError,
    BodyTooLargeError,
    ConflictError,
    InvalidRequestError,
    LocalBackend,
    NotFoundError,
    ReviewError,
)
from storage import Role, Storage
from storage.credentials import CredentialRecord

log = logging.getLogger("intake.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The largest request body: a re-wrapped header as base64 JSON, or a sealed note. Bigger bodies
# are refused by aiohttp with 413 before they are read into memory.
CLIENT_MAX_SIZE = 1024 * 1024


def is_loopback(host: str) -> bool:
    """Whether `host` (a listen address) reaches this machine only."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def plain_http_refusal(host: str, *, tls: bool, plain_http_allowed: bool) -> str | None:
    """Why serving the API on `host` must be refused, or None.

    Bearer tokens and sealed reports must not cross a network in clear: off loopback the API
    needs TLS of its own, or the administrator's word that a TLS proxy on a private network
    is in front of it.
    """
    if tls or plain_http_allowed or is_loopback(host):
        return None
    return (f"refusing to serve the reviewer API on {host} over plain HTTP: tokens and reports "
            "would cross the network in clear. Set INTAKE_API_TLS_CERT_FILE and "
            "INTAKE_API_TLS_KEY_FILE, listen on 127.0.0.1 behind a TLS reverse proxy, or, if a "
            "TLS proxy on a private network is in front of it, set INTAKE_API_PLAIN_HTTP=true")
_BEARER = "Bearer "
# Tokens made by `intake credentials add` are 'ik_' plus 43 URL-safe characters; anything much
# longer is not a token, and is not worth hashing.
_MAX_TOKEN_LENGTH = 256


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    role: Role


class Context:
    """What the handlers share: the store, the audit trail and the custody key."""

    def __init__(self, storage: Storage, audit: AuditTrail, custody_key: bytes) -> None:
        self.storage = storage
        self.audit = audit
        self.custody_key = custody_key

    def backend(self, request: web.Request) -> LocalBackend:
        who = credential(request)
        # Every payload this API hands out is recorded as downloaded (chain of custody); a
        # channel's credential sees that channel's reports only, others answer 404.
        return LocalBackend(
            self.storage, self.audit, who.name, custody_key=self.custody_key,
            record_downloads="api", channel=who.channel,
        )


CONTEXT = web.AppKey("context", Context)
# Typed request keys arrived in aiohttp 3.12; older versions take a plain string.
_CREDENTIAL: Any = (
    web.RequestKey("credential", CredentialRecord)
    if hasattr(web, "RequestKey") else "intake.credential"
)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]


def credential(request: web.Request) -> CredentialRecord:
    found: CredentialRecord = request[_CREDENTIAL]
    return found


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _status_of(failure: ReviewError) -> int:
    if isinstance(failure, NotFoundError):
        return 404
    if isinstance(failure, ConflictError):
        return 409
    if isinstance(failure, AccessDeniedError):
        return 403
    if isinstance(failure, BodyTooLargeError):
        return 413
    if isinstance(failure, InvalidRequestError):
        return 400
    return 400


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ReviewError as failure:
        return error(_status_of(failure), str(failure))
    except web.HTTPRequestEntityTooLarge:
        return error(413, f"the request body is larger than {CLIENT_MAX_SIZE // 1024} KiB "
                     f"({CLIENT_MAX_SIZE} bytes)")
    except web.HTTPNotFound:
        return error(404, "no such endpoint: see review/api/openapi.yaml")
    except web.HTTPMethodNotAllowed as refused:
        allowed = ", ".join(sorted(refused.allowed_methods))
        return error(405, f"{request.method} is not allowed here; use {allowed}")
    except web.HTTPException as refused:
        if refused.status >= 400:
            return error(refused.status, refused.reason)
        raise
    except Exception as failure:
        # The exception's text may quote a request body; log its type only.
        log.error("api.failed", extra={"error": type(failure)})
        return error(500, "internal error; the server log has the details")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    header = request.headers.get("Authorization", "")
    if not header.startswith(_BEARER):
        return _unauthorised("send 'Authorization: Bearer <token>' (see `intake credentials add`)")
    token = header[len(_BEARER):].strip()
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return _unauthorised("the bearer token is not valid")
    found = await context(request).storage.credentials.authenticate(token)
    if found is None:
        return _unauthorised("the bearer token is not valid (unknown or revoked)")
    request[_CREDENTIAL] = found
    return await handler(request)


def _unauthorised(message: str) -> web.Response:
    response = error(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="intake"'
    return response


def build_app(routes: list[Route], ctx: Context) -> web.Application:
    app = web.Application(
        client_max_size=CLIENT_MAX_SIZE, middlewares=[errors_as_json, authenticate]
    )
    app[CONTEXT] = ctx
    for route in routes:
        app.router.add_route(route.method, route.path, _with_role(route))
    return app


def _with_role(route: Route) -> Handler:
    """The route's handler behind a check of the role its credential must have."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if route.role is Role.ADMIN and credential(request).role is not Role.ADMIN:
            return error(403, "this endpoint needs an admin credential")
        return await route.handler(request)

    return handle
