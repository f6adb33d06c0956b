"""`intake audit`: read the audit trail and check its chain and signatures."""

from __future__ import annotations

import json
from collections import deque

import click

from cli.config import Settings
from cli.keys_commands import _run, audit_trail
from cli.store import open_storage
from review.audit import INDEX_PROBLEM, AuditEntry, decode_entry


@click.group("audit")
def audit_group() -> None:
    """Read and check the audit trail (hash-chained, signed with the server's custody key)."""


def _custody_key_present(settings: Settings) -> None:
    if not (settings.data_dir / "keys" / "custody.key").is_file():
        raise click.ClickException(
            f"{settings.data_dir / 'keys' / 'custody.key'} is missing, so the trail cannot be "
            "checked: set INTAKE_DATA_DIR to the server's data directory, or restore the key "
            "from backup"
        )


@audit_group.command("verify")
@click.pass_obj
def audit_verify(settings: Settings) -> None:
    """Check the chain and every signature; exit 1 naming the first broken entry."""
    _custody_key_present(settings)

    async def run() -> None:
        async with open_storage(settings, must_exist=True) as storage:
            result = await audit_trail(settings, storage).verify()
        if result.problem == INDEX_PROBLEM:
            raise click.ClickException(
                f"audit trail index incomplete at entry {result.first_broken} of "
                f"{result.entries}: the entries and their signatures are intact, but "
                f"{INDEX_PROBLEM}: run `intake audit reindex` (a worker still on an older "
                "version while the store was upgraded leaves such entries), then verify again"
            )
        if not result.ok:
            raise click.ClickException(
                f"audit trail broken at entry {result.first_broken} of {result.entries}: "
                f"{result.problem}. Entries from there on cannot be trusted; compare with a "
                "backup of the database"
            )
        click.echo(f"audit trail intact: {result.entries} entries, chain and signatures valid")

    _run(run())


@audit_group.command("reindex")
@click.pass_obj
def audit_reindex(settings: Settings) -> None:
    """Add what the trail's index by report lacks (after an upgrade that ran beside old workers)."""
    _custody_key_present(settings)

    async def run() -> None:
        async with open_storage(settings, must_exist=True) as storage:
            added = await audit_trail(settings, storage).reindex()
        click.echo(f"audit trail index: {added} rows added" if added else
                   "audit trail index: complete, nothing to add")

    _run(run())


@audit_group.command("show")
@click.option("--last", type=click.IntRange(1), default=None, help="Only the newest N entries.")
@click.option("--report", "report_id", default=None, help="Only entries about this report id.")
@click.pass_obj
def audit_show(settings: Settings, last: int | None, report_id: str | None) -> None:
    """Print the entries: number, time, who, what, which report, details."""
    _custody_key_present(settings)

    async def run() -> None:
        shown = 0
        async with open_storage(settings, must_exist=True) as storage:
            trail = audit_trail(settings, storage)
            # Read a page at a time, never the whole trail at once: it may hold millions.
            if report_id is None:
                records = trail.records() if last is None else trail.newest_records(last)
                async for record in records:
                    click.echo(_line(decode_entry(record.entry)))
                    shown += 1
            else:
                # Through the index by report: only this report's entries are read. It holds
                # the batches naming the report too; `show --report` lists its own entries.
                about: deque[AuditEntry] = deque(maxlen=last)
                for entry in await trail.entries_about(report_id):
                    if entry.report_id == report_id:
                        about.append(entry)
                for entry in about:
                    click.echo(_line(entry))
                    shown += 1
        if not shown:
            click.echo("no audit entries")

    _run(run())


def _line(e: AuditEntry) -> str:
    details = json.dumps(e.details, sort_keys=True, separators=(",", ":"))
    return f"{e.seq}\t{e.at}\t{e.actor}\t{e.action}\t{e.report_id or '-'}\t{details}"
