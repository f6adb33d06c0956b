"""`intake reviewer ...`: register, list and remove reviewers' public age recipients."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import click

from cli.channel_options import channel_option
from cli.config import ConfigError, Settings
from cli.keys_commands import actor_option, audit_trail
from cli.store import open_storage
from review.recipients import RecipientError, add_reviewer, remove_reviewer

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except (ConfigError, RecipientError) as error:
        raise click.ClickException(str(error)) from None


@click.group("reviewer")
def reviewer() -> None:
    """Register, list and remove reviewers' public age recipients (administrators)."""


@reviewer.command("add")
@click.option("--name", required=True, help="A name for the reviewer (shown in lists).")
@click.option("--recipient", required=True, help="The reviewer's public key, age1...")
@channel_option
@actor_option
@click.pass_obj
def reviewer_add(
    settings: Settings, name: str, recipient: str, channel: str, actor: str
) -> None:
    """Seal every new report of the channel to this recipient too."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            record = await add_reviewer(
                storage, name, recipient, audit=audit_trail(settings, storage), actor=actor,
                channel=channel,
            )
        click.echo(f"added {record.name} (key {record.key_id}); new reports of channel "
                   f"{record.channel} are sealed to it")

    _run(run())


@reviewer.command("list")
@click.pass_obj
def reviewer_list(settings: Settings) -> None:
    """Show registered reviewers and whether they are active."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            records = await storage.recipients.registered()
        if not records:
            click.echo("no reviewers registered yet: `intake reviewer add --name NAME "
                       "--recipient age1...`")
        for r in records:
            state = "active" if r.active else f"removed {r.removed_on}"
            click.echo(f"{r.name}\t{r.kind.value}\t{r.key_id}\t{r.recipient}\t"
                       f"added {r.added_on}\t{state}\tchannel {r.channel}")

    _run(run())


@reviewer.command("remove")
@click.argument("name")
@actor_option
@click.pass_obj
def reviewer_remove(settings: Settings, name: str, actor: str) -> None:
    """Stop sealing new reports to this reviewer (takes effect at once)."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            await remove_reviewer(
                storage, name, audit=audit_trail(settings, storage), actor=actor
            )
        click.echo(f"removed {name}: new reports are no longer sealed to this key. Reports "
                   "already sealed to it stay readable by it until their headers are re-wrapped "
                   "with `intake keys rewrap --identity KEY` (or re-encrypted with `intake keys "
                   "reencrypt` if the key was compromised).")

    _run(run())
