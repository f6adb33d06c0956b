"""Several bots behind one Bot API address, as Telegram serves every bot at api.telegram.org.

Each token gets its own `BotApiStandIn` (its own users, chats, updates, webhook and
FloodLimits: Telegram's limits are per bot); `SeveralBots` listens on one more loopback port
and hands each request to the stand-in of the token in its path. Point every bot at
`several.root_url`; drive each bot's witnesses through its own stand-in.
"""

from __future__ import annotations

import logging
from types import TracebackType

from aiohttp import web

from standin.models import ApiError
from standin.server import BotApiStandIn

_LOG = logging.getLogger(__name__)


class SeveralBots:
    def __init__(self, *standins: BotApiStandIn, host: str = "127.0.0.1") -> None:
        if len({s.token for s in standins}) != len(standins):
            raise ValueError("each stand-in needs a token of its own")
        self.standins = list(standins)
        self._by_token = {s.token: s for s in standins}
        self._host = host
        self._runner: web.AppRunner | None = None
        self._root_url: str | None = None

    def __getitem__(self, token: str) -> BotApiStandIn:
        return self._by_token[token]

    async def start(self) -> None:
        for standin in self.standins:
            await standin.start()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._route)
        # access_log=None: the access log would print tokens.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, 0)
        await site.start()
        self._root_url = f"http://{self._host}:{int(self._runner.addresses[0][1])}"
        _LOG.debug("stand-ins for %d bots listening on %s", len(self.standins), self._root_url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        for standin in self.standins:
            await standin.stop()
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SeveralBots:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        if self._root_url is None:
            raise RuntimeError("the stand-ins have not been started")
        return self._root_url

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        for prefix in ("/file/bot", "/bot"):
            if path.startswith(prefix):
                token = path[len(prefix):].partition("/")[0]
                standin = self._by_token.get(token)
                if standin is not None:
                    return await standin.handle(request)
                error = ApiError("Unauthorized", 401)
                return web.json_response(error.to_json(), status=error.error_code)
        error = ApiError("Not Found", 404)
        return web.json_response(error.to_json(), status=error.error_code)
