"""Bot API calls over aiohttp's client: python-telegram-bot's own networking interface
(`telegram.request.BaseRequest`, the documented way to replace its HTTP library).

Why not PTB's default (HTTPXRequest): under load, httpx, httpcore and anyio were the largest
part of the bot's CPU (bench/intake_load.py --profile). On every call httpcore's pool looks at
each idle connection (a poll() and, through anyio, a getpeername() and a dict of lambdas for
each) and h11 parses the answer in Python; a sendMessage cost 1.3 to 1.6 ms of CPU against the
stand-in on loopback, 0.3 to 0.4 ms over aiohttp (its HTTP parser is C, its pool a deque per
host). An action makes 1.78 calls on average. aiohttp is already a dependency (the webhook, the
stand-in). File downloads stay on httpx (download.py): a few a report, streamed.

What PTB's own request does, this one does too: the same form-encoded parameters (multipart
when a file is sent), its User-Agent, its time-outs (read, connect, and the wait for a free
connection as `pool`), proxies from the environment (HTTPS_PROXY, as httpx's trust_env), TLS
verified (against the system's CAs, where httpx brings certifi's), time-outs raised as
`TimedOut` and every other failure as `NetworkError`, so the sender's retries see the same
errors. aiohttp has no separate write time-out; its read time-out runs from the moment the
request starts to be sent, so a stalled send still ends. Messages name the exception's class
only: aiohttp's quote the URL, which holds the bot token.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

_CONNECT_SECONDS = 5.0  # PTB's default


class AiohttpRequest(BaseRequest):
    """One aiohttp session (and its pool of `connections`) per PTB request object."""

    def __init__(
        self,
        *,
        connections: int,
        read_timeout: float | None,
        pool_timeout: float | None = 1.0,
        connect_timeout: float | None = _CONNECT_SECONDS,
    ) -> None:
        self._connections = connections
        self._read = read_timeout
        self._pool = pool_timeout
        self._connect = connect_timeout
        self._default = self._timeout(read_timeout, connect_timeout, pool_timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    @property
    def connections(self) -> int:
        """At most this many calls at once; the others wait for a free connection."""
        return self._connections

    @staticmethod
    def _timeout(
        read: float | None, connect: float | None, pool: float | None
    ) -> aiohttp.ClientTimeout:
        # aiohttp's `connect` is the wait for a pooled connection plus making a new one.
        waiting = None if connect is None or pool is None else connect + pool
        return aiohttp.ClientTimeout(total=None, connect=waiting, sock_connect=connect,
                                     sock_read=read)

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # TLS verified with aiohttp's one shared context (the system's CAs): a
                # context of its own would load a CA bundle again, 0.7 MB.
                connector=aiohttp.TCPConnector(limit=self._connections, limit_per_host=0),
                headers={"User-Agent": self.USER_AGENT},
                timeout=self._default,
                trust_env=True,
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = _given(read_timeout, self._read)
        connect = _given(connect_timeout, self._connect)
        pool = _given(pool_timeout, self._pool)
        timeout = (self._default if (read, connect, pool) == (self._read, self._connect, self._pool)
                   else self._timeout(read, connect, pool))
        data: Any = None
        if request_data is not None:
            data = (_multipart(request_data) if request_data.contains_files
                    else request_data.json_parameters)
        failure: TelegramError
        try:
            async with session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp's time-outs are asyncio's TimeoutError too
            failure = TimedOut(f"aiohttp.{type(error).__name__}")
        except (aiohttp.ClientError, OSError) as error:
            failure = NetworkError(f"aiohttp.{type(error).__name__}")
        # Raised outside the `except`: aiohttp's error (a connection time-out quotes the URL,
        # and with it the token) is then neither its cause nor its context.
        raise failure


def _given(value: object, default: float | None) -> float | None:
    """The time-out PTB passed for this call, or ours where it passed its "default" marker."""
    if value is None or isinstance(value, int | float):
        return value
    return default


def _multipart(request_data: RequestData) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        form.add_field(name, part[1], filename=part[0],
                       content_type=part[2] if len(part) > 2 else None)
    return form

