"""Starting and stopping the console: one aiohttp application on 127.0.0.1, one secret per run."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware

import crypto
from review.answers import Labels
from review.backend import ReviewBackend
from review.console.monitoring import MonitoringPages
from review.console.reading import DEFAULT_CACHE_BYTES, Reader
from review.console.security import (
    Session,
    add_security_headers,
    check_bind_host,
    session_middleware,
)
from review.console.views import Views, templates

log = logging.getLogger("intake.console")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Forms carry a note or a question at most; nothing larger is ever posted.
CLIENT_MAX_SIZE = 256 * 1024


class Console:
    """The reviewer's web console over a ReviewBackend, decrypting with `identities` in-process.

    `start()` returns the one URL that opens it (it carries the session secret); print it to the
    reviewer's terminal and nowhere else: not to a log, not to a file.
    """

    def __init__(
        self,
        backend: ReviewBackend,
        identities: Sequence[crypto.Identity],
        *,
        custody_public: bytes | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        labels: Labels | None = None,
    ) -> None:
        # Refused here, before anything listens, so a mistake can never be briefly exposed.
        self._host = check_bind_host(host)
        self._port = port
        self.session = Session()
        self.reader = Reader(
            backend, identities, custody_public=custody_public, cache_bytes=cache_bytes,
            labels=labels,
        )
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        views = Views(self.reader, self.session, templates())
        app = web.Application(
            middlewares=[session_middleware(self.session), _error_pages(views)],
            client_max_size=CLIENT_MAX_SIZE,
        )
        app.on_response_prepare.append(add_security_headers)
        app.add_routes(views.routes())
        MonitoringPages(views).install(app)  # overview, exports, corroboration
        return app

    async def start(self) -> str:
        # No access log: URLs name report ids, and the first one carries the secret.
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        # With port 0 the system picks a free port; the runner knows which one it got.
        self.session.port = int(self._runner.addresses[0][1])
        log.info("console.started")
        return self.session.start_url

    @property
    def url(self) -> str:
        return self.session.start_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.reader.forget()
        log.info("console.stopped")

    async def __aenter__(self) -> Console:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()


def _error_pages(views: Views) -> Middleware:
    """Turn 'no such report' and backend failures into calm pages that say what happened."""

    @web.middleware
    async def pages(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return views.render("message.html", status=404, title="Not found",
                                message="There is no such page in the console.")
        except LookupError:
            return views.render("message.html", status=404, title="No such report",
                                message="There is no such report or attachment. It may have "
                                "been removed by the retention policy.")
        except web.HTTPException:
            raise
        except Exception as error:
            # The message may come from the backend (a refused request, an unreachable server);
            # it never holds report content, which only this process can decrypt.
            log.warning("console.request_failed", extra={"error": type(error).__name__})
            return views.render("message.html", status=502, title="Something went wrong",
                                message=f"The request could not be completed: {error}")

    return pages
