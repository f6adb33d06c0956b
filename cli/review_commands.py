"""`intake review ...`: the reviewer's tools, on the data directory or against a server.

Without `--server` the commands open the local data directory; with `--server URL` they talk
to the reviewer API with a bearer token from `--token-file` or INTAKE_REVIEW_TOKEN. Either way
decryption and sealing happen here, with the reviewer's own identity file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from pathlib import Path

import click
from click.core import ParameterSource

import crypto
from cli.lazy import LazyGroup
from cli.review_session import (
    _IDENTITY,
    _OPTIONS,
    TOKEN_ENV,
    ReviewOptions,
    _default_actor,
    _identities,
    _labels,
    _on_report,
    _then,
    _with_backend,
    opened_backend,
    pass_options,
)
from review.backend import PRIORITIES, STATUSES, QueueFilter
from review.custody.access import opened_message_ids, record_access
from review.local import LocalBackend, ReviewError
from review.tools import (
    CustodySource,
    OpenedNote,
    ask_witness,
    open_report,
    public_key_from_pem,
    pull,
    read_notes,
    read_questions,
    seal_note,
)
from storage import QueuePage

# The console and monitoring commands import these from here; most live in cli/review_session.py.
__all__ = [
    "TOKEN_ENV",
    "_IDENTITY",
    "ReviewOptions",
    "_identities",
    "_with_backend",
    "opened_backend",
    "pass_options",
    "review",
]


@click.group("review", cls=LazyGroup, lazy={
    "console": ("cli.console_command:console_command",
                "Serve the reviewer console on 127.0.0.1 until Ctrl-C."),
    # The monitoring commands import the questionnaire and the statistics code: only when run.
    "stats": ("cli.monitoring_commands:stats_command",
              "Count reports by week, month, category, place, who was affected, status and "
              "priority."),
    "export-data": ("cli.monitoring_commands:export_data_command",
                    "One row per report, columns from the questionnaire's ids, as CSV or JSON "
                    "Lines."),
    "export-uwazi": ("cli.monitoring_commands:export_uwazi_command",
                     "Uwazi's CSV import package: import.csv and the files; only what is new "
                     "since the last export to the same destination."),
})
@click.option("--server", default=None, metavar="URL",
              help="Use the reviewer API at URL instead of the local data directory.")
@click.option("--token-file", type=click.Path(path_type=Path), default=None,
              help=f"File holding your API token (or set {TOKEN_ENV}).")
@click.option("--as", "actor", envvar="INTAKE_REVIEW_ACTOR", default=None,
              help="Local mode: your name in the audit trail (default: your login name).")
@click.pass_context
def review(
    context: click.Context, server: str | None, token_file: Path | None, actor: str | None
) -> None:
    """Work with the sealed queue (decryption happens here, with your own key)."""
    if server is not None and actor is not None:
        where = ("--as" if context.get_parameter_source("actor") is ParameterSource.COMMANDLINE
                 else "INTAKE_REVIEW_ACTOR")
        raise click.UsageError(
            f"{where} names you in the local audit trail only; with --server the server "
            "records your changes under your credential's name (an administrator sets it with "
            f"`intake credentials add --name NAME`): drop {where}"
        )
    # Kept in meta, not obj: subcommands registered by others (the console) expect Settings.
    context.meta[_OPTIONS] = ReviewOptions(
        context.obj, server, token_file, actor or _default_actor()
    )


@review.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--priority", type=click.Choice(PRIORITIES), default=None)
@click.option("--assignee", default=None)
@click.option("--label", default=None)
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Received on this day (YYYY-MM-DD).")
@click.option("--cursor", default=None,
              help="Start after this position: the cursor printed under the previous page.")
@click.option("--page", type=click.IntRange(min=1), default=None,
              help="A numbered page instead (slower on a large queue than --cursor).")
@click.option("--page-size", type=click.IntRange(1, 500), default=50)
@click.option("--total", is_flag=True, help="Also count every report that matches.")
@pass_options
def review_list(
    options: ReviewOptions, status: str | None, priority: str | None, assignee: str | None,
    label: str | None, day: dt.datetime | None, cursor: str | None, page: int | None,
    page_size: int, total: bool,
) -> None:
    """List reports: id, day, status, priority, assignee, items, labels. No content.

    Prints the cursor of the next page last (on standard error), while there is one.
    """
    filters = QueueFilter(status, priority, assignee, label, day.date() if day else None)
    if page is not None and cursor is None:
        summaries = _with_backend(
            options, lambda b: b.list_reports(filters, page=page, page_size=page_size)
        )
        found = QueuePage(summaries, None)
    else:
        found = _with_backend(options, lambda b: b.queue_page(
            filters, cursor=cursor, page_size=page_size, with_total=total
        ))
    first = page in (None, 1) and cursor is None
    if not found.reports:
        click.echo("no reports match" if first else "no more reports")
    else:
        click.echo("ID\tRECEIVED\tSTATUS\tPRIORITY\tASSIGNEE\tITEMS\tLABELS")
    for s in found.reports:
        click.echo(f"{s.report_id}\t{s.received_day}\t{s.status}\t{s.priority}\t"
                   f"{s.assignee or '-'}\t{s.item_count}\t{','.join(s.labels)}")
    if found.total is not None:
        click.echo(f"{found.total} report(s) match", err=True)
    if found.next_cursor is not None:
        click.echo(f"next page: --cursor {found.next_cursor}", err=True)


@review.command("show")
@click.argument("report_id")
@_IDENTITY
@click.option("--save-attachments", type=click.Path(path_type=Path), default=None,
              help="Also write the decrypted attachments into this folder.")
@pass_options
def review_show(
    options: ReviewOptions, report_id: str, identity: Path, save_attachments: Path | None
) -> None:
    """Decrypt one report on this machine and print it (REPORT_ID: an id or a unique prefix)."""
    if save_attachments is not None and save_attachments.is_file():
        raise click.ClickException(
            f"--save-attachments {save_attachments} is a file: name a folder"
        )
    labels = _labels(options)

    async def work(
        backend: CustodySource, report_id: str, identities: list[crypto.Identity]
    ) -> None:
        custody = public_key_from_pem(await backend.custody_public_pem())
        report = await open_report(backend, report_id, identities, custody)
        questions = await read_questions(backend, report_id, identities)
        # Decrypted here: recorded before anything is shown (chain of custody).
        stored = await backend.get_report(report_id)
        opened_messages = await opened_message_ids(backend, report_id, identities)
        await record_access(backend, report_id, "opened",
                            items=[i.seq for i in stored.items], messages=opened_messages)
        from review.render import attachment_file_name, render_report

        click.echo(render_report(report, labels, questions))
        if save_attachments is not None:
            await record_access(backend, report_id, "downloaded",
                                items=[a.seq for a in report.attachments])
            save_attachments.mkdir(parents=True, exist_ok=True, mode=0o700)
            for attachment in report.attachments:
                name = attachment_file_name(attachment.seq, attachment.facts)
                (save_attachments / name).write_bytes(attachment.data)
            click.echo(f"attachments written to {save_attachments}")

    _on_report(options, report_id, work, identity)


@review.command("pull")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path))
@pass_options
def review_pull(options: ReviewOptions, out_dir: Path) -> None:
    """Copy every report as standard age files: DIR/<id>/NN-role.age (age -d -i KEY opens them)."""
    written, unchanged = _with_backend(options, lambda b: pull(b, out_dir), record_downloads=True)
    click.echo(f"{written} file(s) written, {unchanged} already up to date, in {out_dir}")


@review.command("claim")
@click.argument("report_id")
@pass_options
def review_claim(options: ReviewOptions, report_id: str) -> None:
    """Assign a report to yourself."""

    async def work(backend: CustodySource, report_id: str, _: object) -> str:
        await backend.assign(report_id, backend.actor)
        return f"{report_id} is assigned to {backend.actor}"

    click.echo(_on_report(options, report_id, work))


@review.command("assign")
@click.argument("report_id")
@click.argument("name", required=False)
@click.option("--nobody", is_flag=True, help="Remove the assignee.")
@pass_options
def review_assign(options: ReviewOptions, report_id: str, name: str | None, nobody: bool) -> None:
    """Assign a report to NAME (or to nobody with --nobody)."""
    if (name is None) == (not nobody):
        raise click.UsageError("give a NAME or --nobody")
    report_id = _on_report(options, report_id, lambda b, rid, _: _then(b.assign(rid, name), rid))
    click.echo(f"{report_id} is assigned to {name or 'nobody'}")


@review.command("status")
@click.argument("report_id")
@click.argument("status", type=click.Choice(STATUSES))
@pass_options
def review_status(options: ReviewOptions, report_id: str, status: str) -> None:
    """Set a report's status."""
    report_id = _on_report(
        options, report_id, lambda b, rid, _: _then(b.set_status(rid, status), rid)
    )
    click.echo(f"{report_id} status {status}")


@review.command("priority")
@click.argument("report_id")
@click.argument("priority", type=click.Choice(PRIORITIES))
@pass_options
def review_priority(options: ReviewOptions, report_id: str, priority: str) -> None:
    """Set a report's priority."""
    report_id = _on_report(
        options, report_id, lambda b, rid, _: _then(b.set_priority(rid, priority), rid)
    )
    click.echo(f"{report_id} priority {priority}")


@review.command("label")
@click.argument("report_id")
@click.argument("action", type=click.Choice(["add", "remove"]))
@click.argument("label")
@pass_options
def review_label(options: ReviewOptions, report_id: str, action: str, label: str) -> None:
    """Add or remove a label (short, lowercase; kept in clear)."""

    def change(backend: CustodySource, rid: str, _: object) -> Awaitable[str]:
        if action == "add":
            return _then(backend.add_label(rid, label), rid)
        return _then(backend.remove_label(rid, label), rid)

    report_id = _on_report(options, report_id, change)
    click.echo(f"{report_id} label {label} {'added' if action == 'add' else 'removed'}")


@review.command("note")
@click.argument("report_id")
@click.argument("text")
@pass_options
def review_note(options: ReviewOptions, report_id: str, text: str) -> None:
    """Seal a note here to every active reviewer (and the recovery key), then upload it."""
    note = _on_report(options, report_id, lambda b, rid, _: seal_note(b, rid, text))
    click.echo(f"note {note.note_id} sealed and stored")


@review.command("notes")
@click.argument("report_id")
@_IDENTITY
@pass_options
def review_notes(options: ReviewOptions, report_id: str, identity: Path) -> None:
    """Decrypt a report's notes on this machine and print them."""

    async def work(
        backend: CustodySource, report_id: str, identities: list[crypto.Identity]
    ) -> list[OpenedNote]:
        found = await read_notes(backend, report_id, identities)
        await record_access(backend, report_id, "opened",
                            notes=[n.note.note_id for n in found if n.text is not None])
        return found

    opened = _on_report(options, report_id, work, identity)
    if not opened:
        click.echo("no notes yet")
    for item in opened:
        text = item.text if item.text is not None else "(sealed to keys other than yours)"
        # Note text is another reviewer's input: it must not steer this terminal either.
        from review.render import terminal_safe

        click.echo(terminal_safe(f"{item.note.created_on} {item.note.author}: {text}"))


@review.command("ask")
@click.argument("report_id")
@click.argument("text")
@pass_options
def review_ask(options: ReviewOptions, report_id: str, text: str) -> None:
    """Leave a follow-up question that only the witness (with their receipt code) can read."""
    _on_report(options, report_id, lambda b, rid, _: ask_witness(b, rid, text))
    click.echo("question sealed for the witness and stored")


@review.command("export")
@click.argument("report_id")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path))
@click.option("--to", "transfer_to", required=True, metavar="WHOM",
              help="Who receives the bundle (e.g. \"Jane Roe, counsel for the victims\"): "
                   "recorded in the report's chain of custody with the bundle's SHA-256.")
@_IDENTITY
@pass_options
def review_export(
    options: ReviewOptions, report_id: str, out_dir: Path, transfer_to: str, identity: Path
) -> None:
    """Write an evidence bundle (sealed originals, decrypted files, hashes, custody signature)."""
    from review.custody.access import AccessError, check_transfer
    from review.export import check_empty, export_report

    try:
        check_empty(out_dir)
        check_transfer(transfer_to)
    except (ReviewError, AccessError) as error:
        raise click.ClickException(str(error)) from None
    labels = _labels(options)
    result = _on_report(
        options, report_id,
        # On the server the evidence tables add the manifest's timestamp (timestamps/).
        lambda b, rid, ids: export_report(
            b, rid, out_dir, ids, labels,
            evidence=b.storage.evidence if isinstance(b, LocalBackend) else None,
            transfer_to=transfer_to,
        ),
        identity,
    )
    state = "valid" if result.custody_valid else "INVALID: do not rely on this bundle"
    click.echo(f"{result.files} files written to {out_dir}; custody signature {state}; "
               f"handed to {transfer_to!r} (recorded); see VERIFY.txt")

