"""Wiring of `intake serve`: load the questionnaire, start the bot (and the reviewer API)."""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import AsyncIterator, Callable

from telegram.error import InvalidToken

from bot.channel_loading import ChannelSetupError
from bot.telegram.bot_plan import BotFileError
from bot.telegram.health import HealthListenError
from bot.telegram.intake import DeleteReportHook
from bot.telegram.runtime import BotOptions, WebhookOptions, running_bot
from cli.config import ConfigError, Settings
from cli.evidence_commands import periodic_anchoring
from cli.labels import labels_for, questionnaire_for, reviewer_labels
from cli.setting_checks import parse_host_port
from cli.stopping import Stopping, run_until_stopped
from cli.store import REMOTE_HINT, open_storage, require_data_dir
from crypto.drafts import DraftKeyFileError, DraftKeyring
from review.audit import AuditTrail
from review.retention import shred_report
from storage import DEFAULT_CHANNEL, Storage
from storage.server_keys import load_or_create_server_keys


def bot_options(settings: Settings, token: str, *, webhook: bool = False) -> BotOptions:
    hook = None
    if webhook:
        listen = parse_host_port(settings.webhook_listen)
        assert listen is not None  # checked when the settings were read
        hook = WebhookOptions(
            secret=settings.webhook_secret(),
            host=listen[0],
            port=listen[1],
            public_url=settings.webhook_url,
            max_connections=settings.webhook_max_connections,
        )
    health = parse_host_port(settings.health_listen) if settings.health_listen else None
    return BotOptions(
        token=token,
        health_listen=None if webhook else health,
        api_root=settings.telegram_api_url,
        draft_ttl_seconds=settings.draft_ttl_minutes * 60.0,
        max_file_bytes=settings.max_file_mb * 1024 * 1024,
        max_concurrent_files=settings.max_concurrent_files,
        bot_api_connections=settings.bot_api_connections,
        delete_after_submit=settings.delete_after_submit,
        reviewers_chat_id=settings.reviewers_chat_id,
        notify_interval_seconds=settings.notify_interval_minutes * 60.0,
        webhook=hook,
        channel_chooser=settings.channel_chooser,
        # One polling process on SQLite: nothing else can be half-way through a submission.
        sweep_orphans_at_start=not webhook and settings.database_url is None,
    )


def draft_keyring(settings: Settings) -> DraftKeyring:
    """The draft key: from its file (created on first start), or in memory only."""
    if settings.drafts == "ephemeral":
        return DraftKeyring.ephemeral()
    path = settings.resolved_draft_key_file
    try:
        if settings.draft_key_file is None and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Another worker starting at the same moment may write it first: then use that one.
            with contextlib.suppress(DraftKeyFileError):
                DraftKeyring.generate_file(path)
        return DraftKeyring.from_file(path)
    except DraftKeyFileError as error:
        raise ConfigError(f"INTAKE_DRAFT_KEY_FILE: {error}") from None


async def serve(settings: Settings, token: str, *, webhook: bool = False) -> None:
    """Run the bot (long polling, or a webhook) until SIGTERM or Ctrl-C, then stop cleanly.

    A signal ends it within ten seconds at any point, start-up retries included (cli/stopping.py).
    """
    await run_until_stopped(lambda stopping: _serve(settings, token, webhook, stopping))


async def _serve(settings: Settings, token: str, webhook: bool, stopping: Stopping) -> None:
    questionnaire = questionnaire_for(settings)
    options = bot_options(settings, token, webhook=webhook)
    if settings.drafts == "ephemeral" and webhook:
        raise ConfigError(
            "INTAKE_DRAFTS=ephemeral works only for one polling process: webhook workers must "
            "share one INTAKE_DRAFT_KEY_FILE; set INTAKE_DRAFTS=sealed"
        )
    keyring = draft_keyring(settings)
    async with open_storage(settings) as storage:
        # A plain /start (without the chooser) and every unknown deep link reach the default
        # channel, so it is the one that must have someone to seal to; another channel without
        # reviewers asks its witnesses to try later (docs/channels.md).
        if not await storage.recipients.active(DEFAULT_CHANNEL):
            raise ConfigError(
                "no reviewer recipients are registered, so reports could not be sealed: run "
                "`intake reviewer add --name NAME --recipient age1...` first"
            )
        keys = load_or_create_server_keys(settings.data_dir)
        try:
            async with (
                running_bot(
                    options,
                    storage,
                    keys,
                    questionnaire,
                    delete_report=witness_deletion(settings, storage, keys.custody_key),
                    keyring=keyring,
                ),
                api_if_configured(settings, storage),
                periodic_anchoring(settings, storage),
            ):
                stopping.mark_started()
                await stopping.requested.wait()
        except (ChannelSetupError, BotFileError) as error:
            raise ConfigError(str(error)) from None
        except HealthListenError as error:
            raise ConfigError(
                f"INTAKE_HEALTH_LISTEN: cannot listen on {settings.health_listen} ({error}): set "
                "it to a free HOST:PORT, or stop what holds that port"
            ) from None
        except InvalidToken:
            # python-telegram-bot's own message quotes the whole token; never let it out.
            raise ConfigError(
                "INTAKE_BOT_TOKEN was refused by the Bot API server: copy the token again from "
                "@BotFather (or check INTAKE_TELEGRAM_API_URL)"
            ) from None


@contextlib.asynccontextmanager
async def running_reviewer_api(settings: Settings, storage: Storage) -> AsyncIterator[int]:
    """The reviewer API on INTAKE_API_LISTEN (default 127.0.0.1:8443); yields the bound port."""
    from review.api import (
        DEFAULT_LISTEN,
        create_app,
        parse_listen,
        plain_http_refusal,
        running_api,
    )
    from review.audit import AuditTrail

    keys = load_or_create_server_keys(settings.data_dir)
    # The audit trail is signed with the custody key, like the custody manifests.
    audit = AuditTrail(storage.audit, keys.custody_key)
    host, port = parse_listen(settings.api_listen or DEFAULT_LISTEN)
    tls = api_tls_context(settings)
    refusal = plain_http_refusal(host, tls=tls is not None,
                                 plain_http_allowed=settings.api_plain_http)
    if refusal is not None:
        raise ConfigError(f"INTAKE_API_LISTEN: {refusal}")
    serving = running_api(create_app(storage, audit, keys.custody_key), host, port, tls=tls)
    try:
        bound = await serving.__aenter__()
    except OSError as error:
        reason = os.strerror(error.errno).lower() if error.errno else "refused"
        raise ConfigError(
            f"INTAKE_API_LISTEN: cannot listen on {host}:{port} ({reason}): set "
            "INTAKE_API_LISTEN to a free HOST:PORT, or stop what holds that port"
        ) from None
    # Only errors of the bind itself are about INTAKE_API_LISTEN; the rest pass through as is.
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_exit(serving)
        yield bound


def api_tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The reviewer API's TLS context from INTAKE_API_TLS_CERT_FILE and _KEY_FILE, or None."""
    cert, key = settings.api_tls_cert_file, settings.api_tls_key_file
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError("INTAKE_API_TLS_CERT_FILE and INTAKE_API_TLS_KEY_FILE go together: "
                          "set both (the PEM certificate chain and its private key) or neither")
    from storage.server_keys import KeyFileError, refuse_if_others_can_read

    try:
        refuse_if_others_can_read(key, "TLS key file")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
    except KeyFileError as error:
        raise ConfigError(f"INTAKE_API_TLS_KEY_FILE: {error}") from None
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"INTAKE_API_TLS_CERT_FILE / INTAKE_API_TLS_KEY_FILE: cannot use them "
            f"({type(error).__name__}): both must be readable PEM, the key matching the "
            "certificate"
        ) from None
    return context


def api_if_configured(
    settings: Settings, storage: Storage
) -> contextlib.AbstractAsyncContextManager[object]:
    """`intake serve` runs the reviewer API beside the bot only when INTAKE_API_LISTEN is set."""
    if settings.api_listen is None:
        return contextlib.nullcontext()
    return running_reviewer_api(settings, storage)


async def serve_api(settings: Settings, on_ready: Callable[[str], None]) -> None:
    """Run the reviewer API alone until SIGTERM or Ctrl-C; `on_ready(url)` once it listens."""

    async def api(stopping: Stopping) -> None:
        async with open_storage(settings) as storage, running_reviewer_api(
            settings, storage
        ) as bound:
            from review.api import DEFAULT_LISTEN, parse_listen

            host, _port = parse_listen(settings.api_listen or DEFAULT_LISTEN)
            scheme = "https" if settings.api_tls_cert_file is not None else "http"
            on_ready(f"{scheme}://{f'[{host}]' if ':' in host else host}:{bound}")
            stopping.mark_started()
            await stopping.requested.wait()

    await run_until_stopped(api)


def witness_deletion(
    settings: Settings, storage: Storage, custody_key: bytes
) -> DeleteReportHook | None:
    """When the organisation allows it, a witness's delete request crypto-shreds the report."""
    if not settings.witness_may_delete:
        return None
    audit = AuditTrail(storage.audit, custody_key)

    async def delete(report_id: str) -> bool:
        shredded = await shred_report(
            storage, report_id, audit=audit, actor="witness", reason="witness_request"
        )
        # As after retention: push the deleted rows out of the WAL / dead tuples now.
        await storage.reports.release_freed_space()
        return shredded

    return delete


__all__ = [
    "REMOTE_HINT",
    "labels_for",
    "open_storage",
    "questionnaire_for",
    "require_data_dir",
    "reviewer_labels",
    "serve",
    "serve_api",
    "witness_deletion",
]
