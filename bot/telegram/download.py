"""Streaming a witness's file from the Bot API, chunk by chunk, without ever holding it whole.

python-telegram-bot's `File.download_*` read a whole file into memory, so only `getFile` goes
through it; the bytes come from the file URL over httpx (a dependency of python-telegram-bot),
in chunks.

The file URL is `{api}/file/bot<TOKEN>/{file_path}`: it carries the bot token. No exception
raised here quotes it: every failure becomes an `AttachmentUnavailable` whose message and
`reason` are a fixed word, raised outside the handler so that no exception holding the URL is
chained to it.

A passing failure is tried again, as the sender does for every other Bot API call: `getFile`
goes through the sender's retries, and the file's GET is retried on a 5xx, a 429 or a dropped
connection while no byte of it has been read (after that, a retry would repeat bytes already
sealed). Without this, one 502 from Telegram's front made a witness's Send fail with "a file
could not be fetched" (about 7% of Sends with 10% of calls failing).

A local Bot API server (`INTAKE_TELEGRAM_API_URL`, started with `--local`) answers `getFile`
with an absolute path on its own disk; as PTB does, such a path is read from disk when it is a
file on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncGenerator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import certifi
import httpx
from telegram import Bot
from telegram.error import BadRequest, TelegramError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from bot.core import MediaRef
from bot.submission import AttachmentUnavailable
from bot.telegram.sender import BotApiSender

log = logging.getLogger("intake.download")

CHUNK_SIZE = 64 * 1024
# Per read, not per file: a 20 MB file on a slow link may take minutes, but never stalls.
_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_DOWNLOAD_ATTEMPTS = 4


class _PassingStatus(Exception):
    """The file URL answered 5xx or 429: worth another try."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class TelegramFiles:
    """Fetches witnesses' files from the Bot API as chunk streams (a `Fetch`)."""

    def __init__(
        self,
        bot: Bot,
        *,
        max_bytes: int,
        client: httpx.AsyncClient | None = None,
        chunk_size: int = CHUNK_SIZE,
        sender: BotApiSender | None = None,
    ) -> None:
        self._bot = bot
        self._sender = sender
        self._max_bytes = max_bytes
        self._client = client
        self._tls_context: ssl.SSLContext | None = None
        self._chunk_size = chunk_size

    def _tls(self) -> ssl.SSLContext:
        """One TLS context for every download, made on first use: loading the CA certificates
        is about 50 ms of blocking work on the event loop, which a client per file repeated
        for every file while every other witness waited. Each download still gets its own
        client, so a download abandoned half-way can hold up no other."""
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context(cafile=certifi.where())
        return self._tls_context

    async def aclose(self) -> None:
        """Nothing to close: each download's client closes with it (kept for the runtime)."""

    async def stream(self, media: MediaRef) -> AsyncGenerator[bytes, None]:
        """The file's bytes in chunks of at most `chunk_size`."""
        if media.size is not None and media.size > self._max_bytes:
            raise self._failed("too_large")
        location = await self._locate(media)
        if location.startswith(f"{self._bot.base_file_url}//"):
            # PTB prefixes a local server's absolute path that is not a file here with the
            # file URL, which such a server does not serve: its disk is not ours.
            raise self._failed("local_file_missing")
        if location.startswith(("http://", "https://")):
            chunks = self._download(_encoded_url(location))
        elif Path(location).is_absolute():
            chunks = self._read_local(Path(location))
        else:
            # PTB leaves a relative path alone if it happens to name a file in the working
            # directory; it is still the server's path, not ours.
            chunks = self._download(_encoded_url(f"{self._bot.base_file_url}/{location}"))
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    @staticmethod
    def _failed(reason: str) -> AttachmentUnavailable:
        log.warning("attachment.unavailable", extra={"reason": reason})
        return AttachmentUnavailable(reason)

    async def _locate(self, media: MediaRef) -> str:
        failure = None
        try:
            if self._sender is None:
                telegram_file = await self._bot.get_file(media.handle)
            else:
                telegram_file = await self._sender.call(
                    None, lambda: self._bot.get_file(media.handle), counts=False
                )
        except BadRequest:
            # Expired, unknown, or above the Bot API's download limit.
            failure = "refused"
        except TelegramError as error:
            failure = type(error).__name__
        if failure is not None:
            raise self._failed(failure)
        if not telegram_file.file_path:
            raise self._failed("no_path")
        # PTB has already prefixed a relative path with the file URL, or left a local one.
        return telegram_file.file_path

    async def _download(self, url: str) -> AsyncGenerator[bytes, None]:
        failure = None
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = self._client
                if client is None:
                    client = await stack.enter_async_context(httpx.AsyncClient(
                        timeout=_TIMEOUT, follow_redirects=False, verify=self._tls()
                    ))
                response = await self._response(client, url)
                stack.push_async_callback(response.aclose)
                declared = response.headers.get("content-length")
                if response.status_code != httpx.codes.OK:
                    failure = f"http_{response.status_code}"
                elif declared is not None and declared.isdigit() and (
                    int(declared) > self._max_bytes
                ):
                    failure = "too_large"
                else:
                    received = 0
                    async for chunk in response.aiter_bytes(self._chunk_size):
                        received += len(chunk)
                        if received > self._max_bytes:
                            failure = "too_large"
                            break
                        yield chunk
        except _PassingStatus as error:
            failure = f"http_{error.status}"
        except httpx.HTTPError as error:
            # Its message and its request both hold the URL: keep the class name only.
            failure = type(error).__name__
        if failure is not None:
            raise self._failed(failure)

    @staticmethod
    async def _response(client: httpx.AsyncClient, url: str) -> httpx.Response:
        """The streamed answer to GET `url`, tried again on a passing failure before any byte
        of the body is read; the caller closes it."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((_PassingStatus, httpx.TransportError)),
            stop=stop_after_attempt(_DOWNLOAD_ATTEMPTS),
            wait=wait_random_exponential(multiplier=0.25, max=4.0),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                response = await client.send(client.build_request("GET", url), stream=True)
                if response.status_code >= 500 or response.status_code == 429:
                    await response.aclose()
                    raise _PassingStatus(response.status_code)
                return response
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _read_local(self, path: Path) -> AsyncGenerator[bytes, None]:
        failure = None
        try:
            if not await asyncio.to_thread(path.is_file):
                # A local server's path on another machine: not reachable from here.
                failure = "local_file_missing"
            else:
                with await asyncio.to_thread(path.open, "rb") as source:
                    received = 0
                    while chunk := await asyncio.to_thread(source.read, self._chunk_size):
                        received += len(chunk)
                        if received > self._max_bytes:
                            failure = "too_large"
                            break
                        yield chunk
        except OSError as error:
            failure = type(error).__name__
        if failure is not None:
            raise self._failed(failure)


def _encoded_url(url: str) -> str:
    """Percent-encode the path as PTB's File does (a file_path may hold non-ASCII)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=quote(parts.path)))
