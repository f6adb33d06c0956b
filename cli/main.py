"""The `intake` command line (click): serve the bot, run the demo, manage reviewers, review."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

import crypto
from cli.app import open_storage, serve
from cli.config import ConfigError, Settings, load_settings
from cli.logging_policy import configure_logging
from crypto.custody import custody_public_key
from review.identities import IdentityFileError, load_identities
from review.queue import ReportNotFound, list_reports, open_report, pull
from review.recipients import RecipientError, add_reviewer, remove_reviewer
from review.render import render_report
from storage.server_keys import load_or_create_server_keys

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
    _run(serve(settings, token))


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
@click.pass_obj
def reviewer_add(settings: Settings, name: str, recipient: str) -> None:
    """Seal every new report to this recipient too."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            record = await add_reviewer(storage, name, recipient)
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
            click.echo(f"{r.name}\t{r.key_id}\t{r.recipient}\tadded {r.added_on}\t{state}")

    _run(run())


@reviewer.command("remove")
@click.argument("name")
@click.pass_obj
def reviewer_remove(settings: Settings, name: str) -> None:
    """Stop sealing new reports to this reviewer (takes effect at once)."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            await remove_reviewer(storage, name)
        click.echo(f"removed {name}: new reports are no longer sealed to this key. Reports "
                   "already sealed to it stay readable by it until their headers are re-wrapped.")

    _run(run())


@main.group()
def review() -> None:
    """Work with the sealed queue (decryption happens here, with your own key)."""


@review.command("list")
@click.option("--status", default=None, help="Only reports with this status.")
@click.pass_obj
def review_list(settings: Settings, status: str | None) -> None:
    """List reports: id, received day, status, number of sealed items. No content."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            summaries = await list_reports(storage, status=status)
        if not summaries:
            click.echo("the queue is empty")
        for s in summaries:
            click.echo(f"{s.report_id}\t{s.received_day}\t{s.status}\t{s.item_count} items")

    _run(run())


@review.command("show")
@click.argument("report_id")
@click.option("--identity", "-i", required=True, type=click.Path(path_type=Path, exists=True),
              help="Your age identity file (plain or passphrase-protected).")
@click.option("--save-attachments", type=click.Path(path_type=Path), default=None,
              help="Also write the decrypted attachments into this folder.")
@click.pass_obj
def review_show(
    settings: Settings, report_id: str, identity: Path, save_attachments: Path | None
) -> None:
    """Decrypt one report on this machine and print it."""
    identities = load_identities(identity, lambda: click.prompt("Passphrase", hide_input=True))

    async def run() -> None:
        keys = load_or_create_server_keys(settings.data_dir)
        async with open_storage(settings) as storage:
            try:
                report = await open_report(
                    storage, report_id, identities,
                    custody_public_key(keys.custody_key),
                )
            except crypto.DecryptionError:
                raise click.ClickException(
                    "this identity cannot open the report: it was not sealed to your key, or "
                    "it has been damaged"
                ) from None
        click.echo(render_report(report))
        if save_attachments is not None:
            save_attachments.mkdir(parents=True, exist_ok=True, mode=0o700)
            for attachment in report.attachments:
                name = f"{attachment.seq:02d}-{attachment.facts.get('kind', 'file')}"
                (save_attachments / name).write_bytes(attachment.data)
            click.echo(f"attachments written to {save_attachments}")

    _run(run())


@review.command("pull")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path))
@click.pass_obj
def review_pull(settings: Settings, out_dir: Path) -> None:
    """Copy every report as standard age files: DIR/<id>/NN-role.age (age -d -i KEY opens them)."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            written, unchanged = await pull(storage, out_dir)
        click.echo(f"{written} file(s) written, {unchanged} already up to date, in {out_dir}")

    _run(run())


if __name__ == "__main__":
    sys.exit(main())
