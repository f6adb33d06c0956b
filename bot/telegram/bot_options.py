"""What `intake serve` tells the bot runtime, and how one python-telegram-bot `Bot` is made and
connected (every bot of the installation alike: the deployment's and channels' own)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from telegram import Bot
from telegram.error import InvalidToken, NetworkError, RetryAfter

from bot.sealing import DEFAULT_CONCURRENT_FILES
from bot.telegram.bot_api_http import AiohttpRequest
from bot.telegram.channel_refresh import REFRESH_SECONDS
from bot.telegram.sender import BOT_API_CONNECTIONS, READ_TIMEOUT_SECONDS

log = logging.getLogger("intake.bot")


@dataclass(frozen=True)
class WebhookOptions:
    secret: str
    host: str = "127.0.0.1"
    port: int = 8080
    path: str = "/telegram"
    # The https URL Telegram calls (through the reverse proxy); None: leave it as registered.
    public_url: str | None = None
    max_connections: int = 40


@dataclass(frozen=True)
class BotOptions:
    token: str
    api_root: str
    draft_ttl_seconds: float = 3600.0
    max_file_bytes: int = 20 * 1024 * 1024
    poll_timeout: float = 10.0
    delete_after_submit: bool = True
    # A reviewers' chat for content-free "new report" notices, at most one per interval.
    reviewers_chat_id: int | None = None
    notify_interval_seconds: float = 600.0
    webhook: WebhookOptions | None = None
    relay_interval_seconds: float = 2.0
    # Remove orphans at once on start-up: only for a single process (SQLite), where no other
    # worker can be half-way through a submission.
    sweep_orphans_at_start: bool = False
    # Telegram's per-chat pace: about one message a second sustained, after a short burst.
    per_chat_messages_per_second: float = 1.0
    per_chat_burst: int = 3
    # Files fetched and sealed at once, across all witnesses: keeps peak memory flat.
    max_concurrent_files: int = DEFAULT_CONCURRENT_FILES
    # A plain /start first asks which public channel to report to (docs/channels.md).
    channel_chooser: bool = False
    # Where a polling bot serves /healthz, /readyz and /metrics (None: nowhere); webhook
    # workers serve them on the webhook's own address (bot/telegram/health.py).
    health_listen: tuple[str, int] | None = None
    # How often the channels are read again, so one added or changed needs no restart.
    channel_refresh_seconds: float = REFRESH_SECONDS
    # Connections each bot keeps to the Bot API (INTAKE_BOT_API_CONNECTIONS).
    bot_api_connections: int = BOT_API_CONNECTIONS


def build_bot(options: BotOptions, token: str | None = None) -> Bot:
    """A Bot for `token` (default: the deployment's, options.token)."""
    root = options.api_root.rstrip("/")
    return Bot(
        token or options.token,
        base_url=f"{root}/bot",
        base_file_url=f"{root}/file/bot",
        # Over aiohttp, not PTB's httpx (bot_api_http.py: a third of the CPU a call). A few
        # connections serve many witnesses (sender.BOT_API_CONNECTIONS); a call waiting for a
        # free connection is not a failed call: it waits as long as an answer may take,
        # instead of PTB's 1 s.
        request=AiohttpRequest(connections=options.bot_api_connections,
                               read_timeout=READ_TIMEOUT_SECONDS,
                               pool_timeout=READ_TIMEOUT_SECONDS),
        # One long poll at a time, and the last confirmation when the poller stops.
        get_updates_request=AiohttpRequest(connections=2,
                                           read_timeout=options.poll_timeout + 10),
    )


async def connect(bot: Bot, api_root: str, stop: asyncio.Event | None = None) -> None:
    """getMe until it answers: a network failure names the URL and retries, never crashes."""
    failures = 0
    while True:
        try:
            await bot.initialize()
            return
        except InvalidToken:
            raise
        except RetryAfter as error:
            await asyncio.sleep(float(error.retry_after))  # type: ignore[arg-type]
        except NetworkError as error:
            failures += 1
            wait = min(30.0, 2.0 * failures)
            log.warning(
                f"bot.api_unreachable url={api_root} hint=check the network, a firewall or "
                "proxy, and INTAKE_TELEGRAM_API_URL; retrying",
                extra={"error": type(error), "count": failures},
            )
            if stop is not None and stop.is_set():
                raise
            await asyncio.sleep(wait)
