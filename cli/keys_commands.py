"""`intake keys`: the administrator's key lifecycle (`intake audit` and `intake retention` are
in cli/audit_commands.py and cli/retention_commands.py, and use the helpers here).

`keys new` runs on a reviewer's own machine and needs no data directory. The others read the
data directory (or database) like every other command; `keys rewrap` and `keys reencrypt` also
need an identity that opens the reports, so they run where that identity is.
"""

from __future__ import annotations

import asyncio
import getpass
import re
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

import crypto
from cli.channel_options import channel_option
from cli.config import ConfigError, Settings
from cli.store import open_storage, require_data_dir
from review.audit import AuditTrail
from review.identities import IdentityFileError, load_identities
from review.keys import (
    MIN_PASSPHRASE,
    KeyRotationError,
    new_identity_file,
    rewrap_store,
    write_private_file,
)
from review.recipients import RecipientError, add_recovery
from review.reencrypt import check_key_id, reencrypt_store
from review.retention import RetentionError
from review.sealed_records import RecordsResult, reencrypt_records, rewrap_records
from storage import DEFAULT_CHANNEL, Storage
from storage.server_keys import load_or_create_server_keys

T = TypeVar("T")
_ACTOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}")
PLAN_FILE = "reencrypt-plan.json"


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except (
        ConfigError, RecipientError, IdentityFileError, KeyRotationError, RetentionError,
    ) as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        # Every step commits whole or not at all, so stopping here is safe to say so.
        raise click.ClickException(
            "interrupted: nothing is lost; run the same command again to continue"
        ) from None


def default_actor() -> str:
    """Who the audit trail names when --actor is not given: the operating-system user."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):
        return "admin"
    return name if _ACTOR.fullmatch(name) else "admin"


def _check_actor(_context: click.Context, _param: click.Parameter, value: str | None) -> str:
    if value is None:
        return default_actor()
    if not _ACTOR.fullmatch(value):
        raise click.BadParameter("use 1-64 letters, digits, spaces, dots, @, dashes or underscores")
    return value


def actor_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--actor",
        default=None,
        callback=_check_actor,
        help="The name the audit trail records for this action (default: your user name).",
    )(function)


def audit_trail(settings: Settings, storage: Storage) -> AuditTrail:
    """The audit trail, signed with the server's custody key (as the custody manifests are)."""
    return AuditTrail(storage.audit, load_or_create_server_keys(settings.data_dir).custody_key)


def _ask_passphrase() -> str:
    return str(click.prompt("Passphrase for the identity file", hide_input=True))


def _data_dir_exists(settings: Settings) -> None:
    try:
        require_data_dir(settings)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _identities(path: Path) -> list[crypto.Identity]:
    try:
        return load_identities(path, _ask_passphrase)
    except IdentityFileError as error:
        raise click.ClickException(str(error)) from None


class _ProgressBar:
    """A click progress bar on stderr, so stdout carries only the summary.

    click is already the CLI's library and its bar is enough here: no new dependency.
    """

    def __init__(self, label: str) -> None:
        self._label = label
        self._bar: Any = None

    def start(self, total: int) -> None:
        self._bar = click.progressbar(
            length=total, label=self._label, file=sys.stderr, show_pos=True
        )
        self._bar.__enter__()

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


# --- intake keys -----------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """Reviewer keys, the recovery key, and re-wrapping or re-encrypting after a change."""


def _check_passphrase(value: str) -> str:
    if len(value) < MIN_PASSPHRASE:
        raise click.UsageError(
            f"use at least {MIN_PASSPHRASE} characters (a few unrelated words are best)"
        )
    return value


@keys_group.command("new")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write the identity (default reviewer-key.age, or reviewer-key.txt with "
    "--no-passphrase). An existing file is never overwritten.",
)
@click.option(
    "--no-passphrase",
    is_flag=True,
    help="Write the identity unprotected, as age-keygen does (only on an encrypted disk).",
)
def keys_new(out: Path | None, no_passphrase: bool) -> None:
    """Make a reviewer identity on this machine and print the age1... recipient to hand over.

    The file is a standard age passphrase file: the stock `age -d -i FILE` uses it too.
    """
    target = out or Path("reviewer-key.txt" if no_passphrase else "reviewer-key.age")
    # Checked before the passphrase is typed twice, not after.
    if target.exists():
        raise click.ClickException(
            f"{target} already exists: choose another --out, or move the old key away first"
        )
    if not target.parent.is_dir():
        raise click.ClickException(f"{target.parent} is not a folder: create it or fix --out")
    passphrase = None
    if not no_passphrase:
        passphrase = str(click.prompt(
            "Passphrase for the new key", hide_input=True, confirmation_prompt=True,
            value_proc=_check_passphrase,
        ))
    try:
        key = new_identity_file(passphrase)
        write_private_file(target, key.file_bytes)
    except KeyRotationError as error:
        raise click.ClickException(str(error)) from None
    protection = "unprotected" if no_passphrase else "protected by your passphrase"
    click.echo(
        f"wrote {target} ({protection}, mode 0600): keep it on this machine and back it up; "
        "never send it to anyone.",
        err=True,
    )
    click.echo(f"key id {key.key_id}; give the administrator this public recipient:", err=True)
    click.echo(key.recipient)


@keys_group.command("recovery")
@click.option("--recipient", required=True, help="The offline recovery key's public age1... line.")
@click.option("--name", default=None, help="A name for it (default recovery-<key id>).")
@click.option("--replace", is_flag=True, help="Retire the current recovery recipient for this one.")
@channel_option
@actor_option
@click.pass_obj
def keys_recovery(
    settings: Settings, recipient: str, name: str | None, replace: bool, channel: str,
    actor: str,
) -> None:
    """Register a channel's offline recovery recipient: every new report of the channel is
    sealed to it as well."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            record, retired = await add_recovery(
                storage, recipient, name=name, replace=replace,
                audit=audit_trail(settings, storage), actor=actor, channel=channel,
            )
        click.echo(f"registered recovery recipient {record.name} (key {record.key_id}); every "
                   "new report is sealed to it as well")
        for old in retired:
            click.echo(f"retired recovery recipient {old.name} (key {old.key_id})")
        click.echo("to add it to reports already stored, run `intake keys rewrap --identity KEY`")

    _run(run())


@keys_group.command("rewrap")
@click.option("--identity", "-i", required=True, type=click.Path(path_type=Path, exists=True),
              help="An age identity file that opens the reports (plain or passphrase-protected).")
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1, 5000),
              help="Headers swapped per database transaction.")
@channel_option
@actor_option
@click.pass_obj
def keys_rewrap(
    settings: Settings, identity: Path, batch_size: int, channel: str, actor: str
) -> None:
    """Re-wrap the headers of one channel's reports to that channel's current recipients;
    payloads and other channels' reports are not touched.

    Safe to interrupt and run again: it continues with what is left.
    """
    _data_dir_exists(settings)
    identities = _identities(identity)

    async def run() -> None:
        bar = _ProgressBar("Re-wrapping headers")
        records_bar = _ProgressBar("Re-wrapping notes and messages")
        async with open_storage(settings, must_exist=True) as storage:
            audit = audit_trail(settings, storage)
            try:
                result = await rewrap_store(
                    storage, identities, audit=audit, actor=actor,
                    progress=bar, batch_size=batch_size, channel=channel,
                )
            finally:
                bar.close()
            try:
                records = await rewrap_records(
                    storage, identities, audit=audit, actor=actor, progress=records_bar,
                    batch_size=batch_size, channel=channel,
                )
            finally:
                records_bar.close()
        click.echo(f"re-wrapped {result.rewrapped} item(s) to {len(result.target_key_ids)} "
                   f"recipient(s) ({', '.join(result.target_key_ids)}); payloads unchanged")
        _echo_records("re-wrapped", records)
        if result.conflicts:
            click.echo(f"{result.conflicts} item(s) changed meanwhile and were left as they are")
        if result.unopenable:
            click.echo(f"{result.unopenable} item(s) could not be opened with this identity "
                       "and were left as they are")
        if not (result.complete and records.complete):
            raise click.ClickException(
                "not every item was re-wrapped: run `intake keys rewrap` again (with an identity "
                "that opens the rest, such as the recovery key, if some could not be opened)"
            )

    _run(run())


@keys_group.command("reencrypt")
@click.option("--identity", "-i", required=True, type=click.Path(path_type=Path, exists=True),
              help="An age identity file that opens the reports (plain or passphrase-protected).")
@click.option("--key-id", default=None,
              help="Only items wrapped to this (compromised, already removed) key id; "
              "default: every item.")
@click.option("--plan", "plan_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help=f"Where to keep the list of items still to do (default "
              f"DATA_DIR/{PLAN_FILE}, or DATA_DIR/CHANNEL.{PLAN_FILE}); it makes an "
              "interrupted run resumable.")
@channel_option
@actor_option
@click.pass_obj
def keys_reencrypt(
    settings: Settings, identity: Path, key_id: str | None, plan_path: Path | None,
    channel: str, actor: str,
) -> None:
    """Re-encrypt items with fresh file keys, for a key compromised with ciphertext leaked.

    Each item gets a new payload sealed to the current recipients; the custody manifest is
    re-signed and the old payload deleted. Safe to interrupt and run again.
    """
    _data_dir_exists(settings)
    try:
        check_key_id(key_id)  # before the passphrase, not after
    except KeyRotationError as error:
        raise click.ClickException(str(error)) from None
    identities = _identities(identity)
    # One plan per channel: a run of one channel never picks up another's items.
    plan = plan_path or settings.data_dir / (
        PLAN_FILE if channel == DEFAULT_CHANNEL else f"{channel}.{PLAN_FILE}"
    )

    async def run() -> None:
        bar = _ProgressBar("Re-encrypting items")
        records_bar = _ProgressBar("Re-encrypting notes and messages")
        async with open_storage(settings, must_exist=True) as storage:
            keys = load_or_create_server_keys(settings.data_dir)
            audit = audit_trail(settings, storage)
            try:
                result = await reencrypt_store(
                    storage, identities, audit=audit, actor=actor,
                    custody_key=keys.custody_key, plan_path=plan, key_id=key_id, progress=bar,
                    channel=channel,
                )
            finally:
                bar.close()
            try:
                records = await reencrypt_records(
                    storage, identities, audit=audit, actor=actor, key_id=key_id,
                    progress=records_bar, channel=channel,
                )
            finally:
                records_bar.close()
        click.echo(f"re-encrypted {result.reencrypted} item(s) to "
                   f"{len(result.target_key_ids)} recipient(s); {result.already_done} were "
                   "already done; custody manifests re-signed (the audit trail links each old "
                   "payload hash to its new one)")
        for where in result.custody_failures:
            click.echo(f"custody check failed for item {where}: left untouched; inspect it "
                       "with `intake review show`")
        if result.unopenable:
            click.echo(f"{result.unopenable} item(s) could not be opened with this identity")
        if result.conflicts:
            click.echo(f"{result.conflicts} item(s) changed meanwhile")
        _echo_records("re-encrypted", records)
        if not (result.complete and records.complete):
            raise click.ClickException(
                f"not every item was re-encrypted; the rest is listed in {plan}: run the same "
                "command again (with an identity that opens them, if some could not be opened)"
            )

    _run(run())


def _echo_records(done: str, records: RecordsResult) -> None:
    click.echo(f"{done} {records.done['note']} note(s) and {records.done['witness_message']} "
               "message(s) for the witness (a message's witness stanza is kept)")
    if records.unopenable:
        click.echo(f"{records.unopenable} note(s) or message(s) could not be opened with this "
                   "identity and were left as they are")
    if records.conflicts:
        click.echo(f"{records.conflicts} note(s) or message(s) changed meanwhile")
