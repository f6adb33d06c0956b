"""How every `intake review` command reaches its backend: the group's options, the API token,
the local or remote backend, the reviewer's identity, and errors as one-line messages.

cli/review_commands.py defines the commands (and re-exports these names for the console and
monitoring commands); this module holds what they share.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

import crypto
from cli.config import ConfigError, Settings
from cli.store import REMOTE_HINT, open_storage, require_data_dir
from review.answers import Labels
from review.audit import AuditTrail
from review.identities import IdentityFileError, load_identities
from review.local import LocalBackend, ReviewError
from review.tools import CustodySource, check_report_prefix, resolve_report_id
from storage.server_keys import load_or_create_server_keys

T = TypeVar("T")
_OPTIONS = "intake.review.options"
TOKEN_ENV = "INTAKE_REVIEW_TOKEN"  # noqa: S105 - the variable's name, not a token


@dataclass(frozen=True)
class ReviewOptions:
    settings: Settings
    server: str | None
    token_file: Path | None
    actor: str


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except (ConfigError, ReviewError, IdentityFileError) as error:
        raise click.ClickException(str(error)) from None
    except crypto.DecryptionError:
        raise click.ClickException(
            "this identity cannot open it: it was not sealed to your key, or it was damaged"
        ) from None


def _token(options: ReviewOptions) -> str:
    if options.token_file is not None:
        try:
            token = options.token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                f"cannot read --token-file {options.token_file}: {error.strerror}"
            ) from None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(
            f"--server needs a token: pass --token-file FILE or set {TOKEN_ENV} "
            "(an administrator makes one with `intake credentials add`)"
        )
    return token


@contextlib.asynccontextmanager
async def opened_backend(
    options: ReviewOptions, *, record_downloads: bool = False
) -> AsyncIterator[CustodySource]:
    """The backend; with `record_downloads`, each payload read from a local data directory is
    an `access.downloaded` entry (a server records the downloads it serves by itself)."""
    if options.server is not None:
        from review.remote import RemoteBackend  # aiohttp: only for --server

        async with RemoteBackend(options.server, _token(options)) as remote:
            yield remote
        return
    require_data_dir(options.settings, REMOTE_HINT)
    async with open_storage(options.settings) as storage:
        keys = load_or_create_server_keys(options.settings.data_dir)
        audit = AuditTrail(storage.audit, keys.custody_key)
        from review.channels import scope_of

        # The same channel scope as the API gives this reviewer (docs/channels.md).
        yield LocalBackend(
            storage, audit, options.actor, custody_key=keys.custody_key,
            record_downloads="cli" if record_downloads else None,
            channel=await scope_of(storage, options.actor),
        )


def _with_backend(
    options: ReviewOptions, work: Callable[[CustodySource], Awaitable[T]],
    *, record_downloads: bool = False,
) -> T:
    async def run() -> T:
        async with opened_backend(options, record_downloads=record_downloads) as backend:
            return await work(backend)

    return _run(run())


def _on_report(
    options: ReviewOptions,
    report_text: str,
    work: Callable[[CustodySource, str, list[crypto.Identity]], Awaitable[T]],
    identity: Path | None = None,
) -> T:
    """Run `work` on the report `report_text` names (a whole id or a unique prefix).

    Everything that can be checked is checked before the passphrase is asked: the id's form,
    the data directory or server, and that the report exists.
    """
    _check_prefix(report_text)  # before the data directory or the server is even opened

    async def run() -> T:
        async with opened_backend(options) as backend:
            report_id = await resolve_report_id(backend, report_text)
            identities: list[crypto.Identity] = []
            if identity is not None:
                await backend.get_report(report_id)
                identities = _identities(identity)
            return await work(backend, report_id, identities)

    return _run(run())


def _labels(options: ReviewOptions) -> Labels:
    """The reviewer's language's labels (INTAKE_REVIEWER_LANGUAGE, INTAKE_QUESTIONNAIRE)."""
    from cli.labels import labels_for  # the questionnaire code: only for commands that show

    try:
        return labels_for(options.settings)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _check_prefix(text: str) -> None:
    try:
        check_report_prefix(text)
    except ReviewError as error:
        raise click.ClickException(str(error)) from None


async def _then(done: Awaitable[object], report_id: str) -> str:
    """Await a change, then name the report it was made to (the whole id, when given a prefix)."""
    await done
    return report_id


def _default_actor() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = ""
    name = re.sub(r"[^A-Za-z0-9 ._-]", "", name)[:64]
    return name or "local-reviewer"


def _identities(path: Path) -> list[crypto.Identity]:
    try:
        return load_identities(path, lambda: click.prompt("Passphrase", hide_input=True))
    except IdentityFileError as error:
        raise click.ClickException(str(error)) from None


_IDENTITY = click.option(
    "--identity", "-i", required=True, type=click.Path(path_type=Path, exists=True),
    help="Your age identity file (plain or passphrase-protected).",
)


def pass_options(function: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(function)
    def with_options(*args: Any, **kwargs: Any) -> T:
        return function(click.get_current_context().meta[_OPTIONS], *args, **kwargs)

    return with_options
