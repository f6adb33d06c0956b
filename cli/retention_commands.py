"""`intake retention`: give reports their expiry dates and crypto-shred those that are due."""

from __future__ import annotations

import click

from cli.config import Settings
from cli.keys_commands import _run, actor_option, audit_trail
from cli.setting_checks import parse_retention
from cli.store import open_storage
from review.retention import run_retention_by_channel


@click.group("retention")
def retention_group() -> None:
    """Crypto-shred reports kept longer than INTAKE_RETENTION_DAYS allows."""


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="Only list the reports that are due; change nothing.")
@actor_option
@click.pass_obj
def retention_run(settings: Settings, dry_run: bool, actor: str) -> None:
    """Give reports in a retention status an expiry date, and shred those whose date has come.

    Headers are deleted first (one transaction per report), then the payload files; each
    shred is recorded in the audit trail. Run it daily.
    """

    async def run() -> None:
        async with open_storage(settings, must_exist=True) as storage:
            # Each channel by its own periods; unset: the deployment's INTAKE_RETENTION_DAYS.
            periods = {
                c.slug: parse_retention(c.retention_days) if c.retention_days is not None
                else settings.retention_periods
                for c in await storage.channels.all()
            }
            result = await run_retention_by_channel(
                storage, periods, audit=audit_trail(settings, storage),
                actor=actor, dry_run=dry_run,
            )
        if dry_run:
            click.echo(f"{len(result.due)} report(s) are due for shredding")
            for report_id in result.due:
                click.echo(report_id)
            return
        click.echo(f"{result.scheduled} report(s) given an expiry date, {result.cleared} "
                   f"cleared (reopened); {len(result.shredded)} report(s) shredded")
        for report_id in result.shredded:
            click.echo(f"shredded {report_id}")

    _run(run())
