"""The `intake` command line (click): serve the bot, run the demo, manage reviewers, review."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.app import open_storage, serve
from cli.config import ConfigError, Settings, load_settings
from cli.console_command import console_command
from cli.credentials_commands import api as api_group
from cli.credentials_commands import credentials as credentials_group
from cli.keys_commands import actor_option, audit_group, audit_trail, keys_group, retention_group
from cli.logging_policy import configure_logging
from cli.monitoring_commands import register as register_monitoring
from cli.review_commands import review as review_group
from review.identities import IdentityFileError
from review.queue import ReportNotFound
from review.recipients import RecipientError, add_reviewer, remove_reviewer

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except (ConfigError, RecipientError, IdentityFileError, ReportNotFound) as error:
        message = str(error) if not isinstance(error, ReportNotFound) else (
            f"no report {error}: see `intake review list`")
        raise click.ClickException(message) from None


@click.group()
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    envvar="INTAKE_CONFIG",
    help="Optional file of INTAKE_* settings (dotenv syntax); the environment wins over it.",
)
@click.pass_context
def main(context: click.Context, config_file: Path | None) -> None:
    """incident-intake: a Telegram bot that seals witness reports to reviewers' age keys."""
    try:
        context.obj = load_settings(config_file)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@main.command("serve")
@click.pass_obj
def serve_command(settings: Settings) -> None:
    """Run the bot with long polling (stops cleanly on SIGTERM or Ctrl-C)."""
    try:
        token = settings.token()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    configure_logging(settings.log_level, secrets=[token])
    try:
        _run(serve(settings, token))
    except click.ClickException:
        raise
    except Exception:
        # A traceback's messages can quote the token or witness input; log it through the
        # safe formatter (type and place only) instead of letting Python print it.
        logging.getLogger("intake.cli").exception("serve.crashed")
        sys.exit(1)


@main.command("demo")
@click.option("--interactive", is_flag=True, help="Type the witness's messages yourself.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the demo's data here (default: a temporary folder, deleted afterwards).",
)
def demo_command(interactive: bool, data_dir: Path | None) -> None:
    """An offline demonstration: no Telegram, no token, a throwaway reviewer key."""
    from cli.demo import run_demo

    _run(run_demo(interactive=interactive, data_dir=data_dir))


@main.group()
def reviewer() -> None:
    """Register, list and remove reviewers' public age recipients (administrators)."""


@reviewer.command("add")
@click.option("--name", required=True, help="A name for the reviewer (shown in lists).")
@click.option("--recipient", required=True, help="The reviewer's public key, age1...")
@actor_option
@click.pass_obj
def reviewer_add(settings: Settings, name: str, recipient: str, actor: str) -> None:
    """Seal every new report to this recipient too."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            record = await add_reviewer(
                storage, name, recipient, audit=audit_trail(settings, storage), actor=actor
            )
        click.echo(f"added {record.name} (key {record.key_id}); new reports are sealed to it")

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
                       f"added {r.added_on}\t{state}")

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


main.add_command(keys_group)
main.add_command(audit_group)
main.add_command(retention_group)
main.add_command(review_group)
main.add_command(credentials_group)
main.add_command(api_group)
review_group.add_command(console_command)
register_monitoring(review_group)

if __name__ == "__main__":
    sys.exit(main())
