"""`intake review console`: the reviewer's web console on 127.0.0.1, decrypting on this machine.

Like the other `intake review` commands it works on the local data directory, or against the
reviewer API with `intake review --server URL --token-file FILE console ...`; either way the
identity is unlocked once, here, and never leaves this process.

The URL it prints carries the session secret. It is printed to this terminal only: opening a
browser for the reviewer would put the secret on the browser's command line, where any other
user of the machine can read it with `ps`.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from pathlib import Path

import click
from click.core import ParameterSource

import crypto
from cli.config import ConfigError
from cli.labels import labels_for
from cli.review_commands import ReviewOptions, opened_backend, pass_options
from cli.store import REMOTE_HINT, open_storage, require_data_dir
from crypto.custody import custody_public_key
from review.answers import Labels
from review.audit import AuditTrail
from review.backend import ReviewBackend
from review.console import BindAddressError, Console, check_bind_host
from review.identities import IdentityFileError, load_identities
from review.local import LocalBackend, ReviewError
from review.tools import public_key_from_pem
from storage import RecipientKind, RecipientRecord
from storage.server_keys import load_or_create_server_keys


@click.command("console")
@click.option("--identity", "-i", required=True, type=click.Path(path_type=Path, exists=True),
              help="Your age identity file (plain or passphrase-protected).")
@click.option("--port", default=0, type=click.IntRange(0, 65535), show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Only 127.0.0.1 is accepted: the console decrypts, so it stays on this machine.")
@pass_options
def console_command(options: ReviewOptions, identity: Path, port: int, host: str) -> None:
    """Serve the reviewer console on 127.0.0.1 until Ctrl-C."""
    try:
        check_bind_host(host)  # before the passphrase prompt, so a mistake costs nothing
        if options.server is None:
            require_data_dir(options.settings, REMOTE_HINT)
        labels = labels_for(options.settings)
    except (BindAddressError, ConfigError) as error:
        raise click.ClickException(str(error)) from None
    try:
        identities = load_identities(
            identity, lambda: click.prompt("Passphrase", hide_input=True, err=True)
        )
    except IdentityFileError as error:
        raise click.ClickException(str(error)) from None
    group = click.get_current_context().parent
    named = group is not None and group.get_parameter_source("actor") in (
        ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT
    )
    try:
        asyncio.run(_serve(options, identities, host, port, labels, named=named))
    except (ConfigError, ReviewError) as error:
        raise click.ClickException(str(error)) from None


async def _serve(
    options: ReviewOptions,
    identities: list[crypto.Identity],
    host: str,
    port: int,
    labels: Labels,
    *,
    named: bool,
) -> None:
    if options.server is not None:
        # The server knows who the token belongs to; it records every change under that name.
        async with opened_backend(options) as remote:
            custody = public_key_from_pem(await remote.custody_public_pem())
            await _console(remote, identities, custody, host, port, labels)
        return
    keys = load_or_create_server_keys(options.settings.data_dir)
    async with open_storage(options.settings) as storage:
        name = options.actor
        if not named:
            name = reviewer_name(identities, await storage.recipients.active()) or name
        from review.channels import scope_of

        local = LocalBackend(
            storage, AuditTrail(storage.audit, keys.custody_key), name,
            custody_key=keys.custody_key, channel=await scope_of(storage, name),
        )
        await _console(
            local, identities, custody_public_key(keys.custody_key), host, port, labels
        )


async def _console(
    backend: ReviewBackend,
    identities: list[crypto.Identity],
    custody_public: bytes,
    host: str,
    port: int,
    labels: Labels,
) -> None:
    console = Console(
        backend, identities, custody_public=custody_public, host=host, port=port, labels=labels
    )
    url = await console.start()
    try:
        mine = reviewer_name(identities, await backend.recipients())
        click.echo(f"Reviewer console for {backend.actor}, decrypting on this machine. Open:\n\n"
                   f"  {url}\n\nWhoever has this address can read reports while the console "
                   "runs: keep it to yourself. Ctrl-C stops the console and forgets what it "
                   "decrypted.")
        if mine is None:
            click.echo("Note: your key is not an active reviewer key, so new reports are not "
                       "sealed to it; ask an administrator to run `intake reviewer add`.",
                       err=True)
        await _until_stopped()
    finally:
        await console.stop()
    click.echo("console stopped")


def reviewer_name(
    identities: Sequence[crypto.Identity], records: Sequence[RecipientRecord]
) -> str | None:
    """The name under which this identity's key is an active reviewer, if it is one."""
    mine = {
        str(identity.recipient) for identity in identities
        if isinstance(identity, crypto.X25519Identity)
    }
    for record in records:
        if record.recipient in mine and record.active and record.kind is RecipientKind.REVIEWER:
            return record.name
    return None


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    try:
        await stop.wait()
    finally:
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signal_number)
