"""Who may talk to the console: only the browser that opened the URL printed in the terminal.

The console decrypts reports, so anything that can send it a request can read them. It listens on
127.0.0.1, which other users of the same machine can reach too, and a web page in the reviewer's
own browser can make that browser send requests to it. Three layers keep both out:

- a random per-run secret, printed once in the terminal as `?key=...`; the first request with it
  gets an HttpOnly, SameSite=Strict cookie holding it and a redirect that drops it from the URL
  (and so from history and the address bar). Every request without the cookie is a 403;
- a CSRF token derived from that secret, in a hidden field of every form, checked on every
  POST; and when the browser says where a POST comes from (Origin, Sec-Fetch-Site), it must
  be the console itself;
- the Host header must name the console's own address, which defeats DNS rebinding.

Residual: cookies are not scoped by port, so another web server on 127.0.0.1 that the reviewer's
browser visits while the console runs receives the cookie. The secret dies with the process.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import MultiDict
from yarl import URL

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

BIND_HOST = "127.0.0.1"
KEY_PARAMETER = "key"
CSRF_FIELD = "csrf"

# No script may run at all; images and media only from the console itself; forms post only to
# it; nothing may frame it. Attachments get an even stricter policy (see media.py).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # Every page holds decrypted content or is about to; nothing may be kept by the browser.
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
_FORBIDDEN_TEXT = (
    "403 Forbidden: open the console with the address printed in the terminal where "
    "`intake review console` runs.\n"
)


class BindAddressError(ValueError):
    """The console was asked to listen somewhere other than 127.0.0.1."""


def check_bind_host(host: str) -> str:
    """127.0.0.1 itself, or BindAddressError: the console must never be reachable off-machine.

    Names such as `localhost` are refused too: they are resolved by configuration the console
    does not control, and may name an external interface.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or str(address) != BIND_HOST:
        raise BindAddressError(
            f"the console only listens on {BIND_HOST} (got {host!r}): it decrypts reports, so it "
            "must not be reachable from another machine. To use it from elsewhere, run it there."
        )
    return BIND_HOST


@dataclass
class Session:
    """The one secret of this console run, and what is derived from it."""

    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    port: int = 0

    @property
    def cookie_name(self) -> str:
        # Cookies ignore ports: a per-port name keeps two consoles on one machine apart.
        return f"intake_console_{self.port}"

    @property
    def origin(self) -> str:
        return f"http://{BIND_HOST}:{self.port}"

    @property
    def start_url(self) -> str:
        return f"{self.origin}/?{KEY_PARAMETER}={self.secret}"

    @property
    def csrf_token(self) -> str:
        # Bound to the session: a token from another run (or another console) is worthless.
        return hmac.new(self.secret.encode(), b"intake-console/csrf", hashlib.sha256).hexdigest()

    def holds_secret(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(
            candidate.encode(), self.secret.encode()
        )

    def csrf_ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(
            candidate.encode(), self.csrf_token.encode()
        )

    def host_ok(self, host: str | None) -> bool:
        return host in (f"{BIND_HOST}:{self.port}", f"localhost:{self.port}")


def forbidden() -> web.Response:
    return web.Response(status=403, text=_FORBIDDEN_TEXT, content_type="text/plain")


def session_middleware(session: Session) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not session.host_ok(request.headers.get("Host")):
            return forbidden()
        if KEY_PARAMETER in request.query:
            return _enter(session, request)
        if not session.holds_secret(request.cookies.get(session.cookie_name)):
            return forbidden()
        if request.method not in ("GET", "HEAD"):
            # With Referrer-Policy no-referrer, browsers send `Origin: null` even on the
            # console's own forms, so null passes here; Sec-Fetch-Site still names the sender.
            if request.headers.get("Origin") not in (None, "null", session.origin):
                return forbidden()
            if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin"):
                return forbidden()
            form = await request.post()
            token = form.get(CSRF_FIELD)
            if not session.csrf_ok(token if isinstance(token, str) else None):
                return forbidden()
        return await handler(request)

    return guard


def _enter(session: Session, request: web.Request) -> web.StreamResponse:
    """Trade the key in the URL for the cookie, and send the browser to the URL without it."""
    if request.method != "GET" or not session.holds_secret(request.query.get(KEY_PARAMETER)):
        return forbidden()
    rest = MultiDict((k, v) for k, v in request.query.items() if k != KEY_PARAMETER)
    # `//host/...` would be a protocol-relative redirect to another site: never leave the console.
    path = "/" + request.path.lstrip("/")
    target = URL.build(path=path, query=rest) if rest else URL.build(path=path)
    response = web.Response(status=303, headers={"Location": str(target)})
    response.set_cookie(
        session.cookie_name, session.secret, httponly=True, samesite="Strict", path="/"
    )
    return response


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, 403s and errors included, carries the headers."""
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
