"""The aiohttp server that plays the Telegram Bot API on loopback, and its public handle."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from standin.client import FakeUser
from standin.fault_http import before_effect, drop_connection, retry_after_response
from standin.faults import (
    DOWNLOAD,
    Fault,
    FaultInjector,
    FaultKind,
    Faults,
    FloodGate,
    FloodLimits,
)
from standin.methods import CANONICAL_NAMES, METHODS
from standin.models import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    ApiError,
    JSONDict,
    RecordedCall,
    StoredFile,
    UploadedFile,
)
from standin.params import Params, read_params
from standin.state import StandInState
from standin.webhook import WebhookDelivery, WebhookStats

_LOG = logging.getLogger(__name__)
_TOKEN_SHAPE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,100}")
_NOT_FOUND = ApiError("Not Found", 404)
_UNAUTHORIZED = ApiError("Unauthorized", 401)
_CHUNK = 64 * 1024
_MAX_REQUEST_BYTES = 64 * 1024 * 1024


def _json_error(error: ApiError) -> web.Response:
    return web.json_response(error.to_json(), status=error.error_code)


def _recordable(params: JSONDict) -> JSONDict:
    """Parameters as recorded: uploads are kept as :class:`UploadedFile` objects."""
    return {k: v for k, v in params.items() if isinstance(v, UploadedFile) or v is not None}


class BotApiStandIn:
    """A loopback Telegram Bot API for tests and the offline demo.

    Point python-telegram-bot at it with
    ``ApplicationBuilder().token(token).base_url(standin.base_url)
    .base_file_url(standin.base_file_url)`` (i.e. ``{root_url}/bot`` and
    ``{root_url}/file/bot``). Use it from the event loop that runs it.
    """

    def __init__(
        self,
        token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        bot_username: str = "intake_test_bot",
        bot_name: str = "Intake Test Bot",
        faults: Faults | None = None,
        flood_limits: FloodLimits | None = None,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(f"the stand-in only listens on loopback, not {host!r}")
        if not token or "/" in token:
            raise ValueError("token must be non-empty and contain no '/'")
        self.token = token
        self.host = host
        self.port = port
        self.state = StandInState(
            token,
            bot_username=bot_username,
            bot_name=bot_name,
            max_download_bytes=max_download_bytes,
        )
        #: Unexpected exceptions inside the stand-in (answered with HTTP 500); should stay empty.
        self.internal_errors: list[BaseException] = []
        #: Draws and counts injected faults; see :attr:`faults` and :attr:`fault_counts`.
        self.injector = FaultInjector(faults)
        self._flood: FloodGate | None = FloodGate(flood_limits) if flood_limits else None
        #: Seconds to hold a file's download before answering (a slow network for that file),
        #: by the stored file; ``None``: no delay. For tests of head-of-line blocking.
        self.download_delay: Callable[[StoredFile], float] | None = None
        #: Webhook delivery (targets, timeout, back-off, stats); idle while no webhook is set.
        self.webhook = WebhookDelivery(self.state)
        self._users: dict[int, FakeUser] = {}
        self._runner: web.AppRunner | None = None
        self._root_url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on ``host:port`` (``port=0`` picks a free port)."""
        if self._runner is not None:
            raise RuntimeError("the stand-in is already running")
        app = web.Application(client_max_size=_MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # access_log=None: the access log would print tokens and query strings at INFO.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.state.closing = False
        self._runner = runner
        await self.webhook.start()
        port = int(runner.addresses[0][1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._root_url = f"http://{host}:{port}"
        _LOG.debug("Bot API stand-in listening on %s", self._root_url)

    async def stop(self) -> None:
        """End waiting long polls and stop listening (safe to call twice)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.state.close()
        await self.webhook.stop()
        await asyncio.sleep(0)
        await runner.cleanup()
        _LOG.debug("Bot API stand-in stopped")

    async def __aenter__(self) -> BotApiStandIn:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- what tests and the demo use -------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The fault configuration in force (``Faults()``: none); assign to change it."""
        return self.injector.faults

    @faults.setter
    def faults(self, faults: Faults | None) -> None:
        self.injector.faults = faults  # re-seeds the generator

    @property
    def flood_limits(self) -> FloodLimits | None:
        """Telegram's flood limits, or ``None`` (the default: no limits); assign to change."""
        return self._flood.limits if self._flood else None

    @flood_limits.setter
    def flood_limits(self, limits: FloodLimits | None) -> None:
        self._flood = FloodGate(limits) if limits else None

    @property
    def webhook_targets(self) -> list[str] | None:
        """Worker URLs that receive webhook updates in turn, instead of setWebhook's URL."""
        return self.webhook.targets

    @webhook_targets.setter
    def webhook_targets(self, targets: list[str] | None) -> None:
        self.webhook.targets = list(targets) if targets else None

    @property
    def webhook_stats(self) -> WebhookStats:
        """Webhook deliveries, failures and retries so far."""
        return self.webhook.stats

    def faults_injected(
        self, kind: FaultKind | str | None = None, method: str | None = None
    ) -> int:
        """How many faults were injected (flood refusals included), by kind and/or method."""
        return self.injector.injected(kind, method)

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>``; only available after :meth:`start`."""
        if self._root_url is None:
            raise RuntimeError("the stand-in has not been started")
        return self._root_url

    @property
    def base_url(self) -> str:
        """The value for PTB's ``base_url``: ``{root_url}/bot``."""
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        """The value for PTB's ``base_file_url``: ``{root_url}/file/bot``."""
        return f"{self.root_url}/file/bot"

    @property
    def calls(self) -> list[RecordedCall]:
        """Every Bot API call received, in arrival order."""
        return self.state.calls

    def calls_to(self, method: str) -> list[RecordedCall]:
        """The recorded calls of one method (name matched case-insensitively)."""
        wanted = method.lower()
        return [call for call in self.state.calls if call.method.lower() == wanted]

    @property
    def downloads(self) -> list[str]:
        """The file paths downloaded through ``/file/bot<token>/...``, in order."""
        return self.state.downloads

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by the bot through getUpdates' offset."""
        return list(self.state.updates)

    def redeliver_last_update(self, chat_id: int, *, keep_update_id: bool = False) -> int:
        """Deliver the chat's latest update once more.

        The payload (message or callback query, with its ids) is identical. By default it is
        queued under a new update_id (a running bot has already confirmed the old one); with
        ``keep_update_id=True`` under the original id, as Telegram redelivers an update that a
        crashed bot never confirmed. Returns the update_id used.
        """
        return self.state.redeliver_last_update(chat_id, keep_update_id=keep_update_id)

    def callback_answer(self, query_id: str) -> JSONDict | None:
        """The bot's answerCallbackQuery parameters for a query, or ``None`` if unanswered."""
        record = self.state.callbacks.get(query_id)
        if record is None:
            raise KeyError(f"unknown callback query id {query_id!r}")
        return record.answer

    def user(
        self,
        user_id: int,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "en",
    ) -> FakeUser:
        """A Telegram user with a private chat with the bot (chat id == user id).

        Asking again for the same ``user_id`` returns the same :class:`FakeUser`.
        """
        if user_id not in self._users:
            chat = self.state.add_user(
                user_id,
                first_name,
                username=username,
                last_name=last_name,
                language_code=language_code,
            )
            self._users[user_id] = FakeUser(self.state, chat)
        return self._users[user_id]

    # -- HTTP ------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request as this bot's Bot API (standin/several.py routes here by token)."""
        return await self._handle(request)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/file/bot"):
            token, _, file_path = path[len("/file/bot") :].partition("/")
            return await self._download(request, token, file_path)
        if path.startswith("/bot"):
            token, _, method = path[len("/bot") :].partition("/")
            return await self._api_call(request, token, method)
        return _json_error(_NOT_FOUND)

    def _check_token(self, token: str) -> None:
        if token == self.token:
            return
        raise _UNAUTHORIZED if _TOKEN_SHAPE.fullmatch(token) else _NOT_FOUND

    async def _api_call(self, request: web.Request, token: str, method: str) -> web.Response:
        canonical = CANONICAL_NAMES.get(method.lower(), method)
        call = RecordedCall(method=canonical, params={}, time=self.state.clock())
        self.state.calls.append(call)
        fault: Fault | None = None
        try:
            self._check_token(token)
            if canonical not in METHODS:
                raise _NOT_FOUND
            params = await read_params(request)
            call.params = _recordable(params)
            fault = self.injector.draw(canonical)
            if fault is not None:
                call.fault = fault.kind
                refused = await before_effect(request, fault)
                if refused is not None:
                    call.status = refused.status
                    return refused
            retry_after = self._flood_check(canonical, params)
            if retry_after is not None:
                call.status, call.fault = 429, FaultKind.FLOOD
                return retry_after_response(retry_after)
            result: Any = await METHODS[canonical](self.state, Params(params))
        except ApiError as error:
            call.status, call.description = error.error_code, error.description
            _LOG.debug("%s -> %d", canonical, error.error_code)
            return _json_error(error)
        except web.HTTPException as http_error:  # e.g. 413 from aiohttp's body size limit
            call.status, call.description = http_error.status, http_error.reason
            return _json_error(ApiError(http_error.reason, http_error.status))
        except asyncio.CancelledError:
            call.description = "cancelled: the client went away or the connection was dropped"
            raise
        except Exception as exc:  # a stand-in bug: answer like Telegram's 500, keep the error
            self.internal_errors.append(exc)
            _LOG.exception("internal error in stand-in method %s", canonical)
            call.status, call.description = 500, "Internal Server Error"
            return _json_error(ApiError("Internal Server Error", 500))
        call.status = 200
        if fault is not None and fault.kind is FaultKind.LATE_ANSWER:
            await asyncio.sleep(fault.delay)  # the effect stands even if the client gives up
        if fault is not None and fault.kind is FaultKind.DROP_AFTER:
            call.description = "dropped after the effect"
            return await drop_connection(request)
        _LOG.debug("%s -> 200", canonical)
        return web.json_response({"ok": True, "result": result})

    def _flood_check(self, method: str, params: JSONDict) -> int | None:
        if self._flood is None:
            return None
        retry_after = self._flood.check(method, params.get("chat_id"))
        if retry_after is not None:
            self.injector.count(FaultKind.FLOOD, method)
        return retry_after

    async def _download(
        self, request: web.Request, token: str, file_path: str
    ) -> web.StreamResponse:
        try:
            self._check_token(token)
        except ApiError as error:
            return _json_error(error)
        fault = self.injector.draw(DOWNLOAD)
        if fault is not None and fault.kind is FaultKind.DROP_AFTER:
            return await drop_connection(request)  # a download has no effect to apply
        refused = await before_effect(request, fault) if fault is not None else None
        if refused is not None:
            return refused
        stored = self.state.files_by_path.get(file_path)
        if stored is None or not stored.path_issued or stored.size > self.state.max_download_bytes:
            return _json_error(_NOT_FOUND)
        if self.download_delay is not None and (delay := self.download_delay(stored)) > 0:
            await asyncio.sleep(delay)
        self.state.downloads.append(file_path)
        if stored.data is not None:
            return web.Response(body=stored.data, content_type="application/octet-stream")
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = stored.size
        await response.prepare(request)
        remaining = stored.size
        zeros = bytes(_CHUNK)
        while remaining > 0:
            await response.write(zeros[: min(_CHUNK, remaining)])
            remaining -= _CHUNK
        await response.write_eof()
        return response


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
