"""`intake review stats`, `export-data` and `export-uwazi`: monitoring on the reviewer's machine.

Each command decrypts the queue here with the reviewer's identity (with a progress bar on the
terminal's error stream), keeps what it decrypted in a cache sealed to that same key, and
writes plaintext only to the file the reviewer names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE
from cli.review_commands import (
    _IDENTITY,
    ReviewOptions,
    _identities,
    _with_backend,
    pass_options,
)
from review.backend import STATUSES
from review.custody.access import record_bulk_access
from review.monitoring.cache import CacheError, load_cache, own_recipients, save_cache
from review.monitoring.cells import csv_text
from review.monitoring.collect import (
    OpenItem,
    collect,
    item_opener,
    question_reader,
    record_questions_opened,
)
from review.monitoring.records import QuestionShape, Record, merged_shape, questionnaire_shape
from review.monitoring.stats import (
    Filters,
    overview,
    overview_csv_rows,
    questionnaire_names,
)
from review.monitoring.tables import (
    FORMATS,
    PLAINTEXT_WARNING,
    ExportError,
    export_text,
    write_export,
)
from review.tools import CustodySource
from storage import StoredItem, StoredReport


class _Progress:
    """A click progress bar on stderr, opened once the number of reports is known."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._bar: Any = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = click.progressbar(length=total, label=self._label, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def default_cache(options: ReviewOptions) -> Path:
    """One sealed cache per queue (data directory or server), under the user's cache folder."""
    source = options.server or str(options.settings.data_dir.resolve())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    return base / "incident-intake" / f"monitoring-{digest}.age"


def decrypted_records(
    options: ReviewOptions,
    identities: list[crypto.Identity],
    *,
    cache: Path | None,
    images: bool = False,
) -> list[Record]:
    """Every report decrypted here (re-using the sealed cache), with a progress bar."""
    if cache is not None:
        try:
            own_recipients(identities)
        except CacheError as error:
            raise click.ClickException(str(error)) from None
    cached = load_cache(cache, identities) if cache is not None else {}
    progress = _Progress("Decrypting reports on this machine")

    async def work(backend: CustodySource) -> list[Record]:
        opened: list[tuple[str, int]] = []
        asked: list[tuple[str, str]] = []
        try:
            return await collect(backend, _recorded(item_opener(backend, identities), opened),
                                 images=images, cached=cached, progress=progress,
                                 questions=question_reader(backend, identities, asked))
        finally:
            progress.close()
            # Every item decrypted here is in the chain of custody, in a few bulk entries, also
            # when the run stopped half-way (what came from the cache was recorded before).
            await record_bulk_access(backend, opened, via="cli")
            await record_questions_opened(backend, asked, via="cli")

    records = _with_backend(options, work)
    if cache is not None:
        save_cache(cache, records, identities)
    return records


def _recorded(open_item: OpenItem, opened: list[tuple[str, int]]) -> OpenItem:
    """`open_item`, noting each item it could decrypt."""

    async def recording(report: StoredReport, item: StoredItem) -> bytes | None:
        data = await open_item(report, item)
        if data is not None:
            opened.append((report.summary.report_id, item.seq))
        return data

    return recording


def shape_for(options: ReviewOptions, records: Sequence[Record]) -> list[QuestionShape]:
    path = options.settings.questionnaire or DEFAULT_QUESTIONNAIRE
    try:
        # Choice names in the reviewer's language (INTAKE_REVIEWER_LANGUAGE), as the console.
        known = questionnaire_shape(path, options.settings.reviewer_language)
    except (OSError, ValueError) as error:
        raise click.ClickException(
            f"cannot read the questionnaire {path} ({error}): set INTAKE_QUESTIONNAIRE"
        ) from None
    return merged_shape(known, list(records))


_CACHE = click.option(
    "--cache", type=click.Path(path_type=Path), default=None,
    help="The sealed cache file (default: one per queue under ~/.cache/incident-intake).",
)
_NO_CACHE = click.option(
    "--no-cache", is_flag=True, help="Decrypt everything again and keep nothing on disk.",
)


def _cache_path(options: ReviewOptions, cache: Path | None, no_cache: bool) -> Path | None:
    return None if no_cache else (cache or default_cache(options))


@click.command("stats")
@_IDENTITY
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Received on or after this day (YYYY-MM-DD).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Received on or before this day (YYYY-MM-DD).")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--label", default=None)
@click.option("--category", default=None, help="A choice id of the category question.")
@click.option("--csv", "csv_out", type=click.Path(path_type=Path), default=None,
              help="Also write every figure's numbers to this CSV file.")
@click.option("--charts", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also draw every figure as SVG and PNG into this folder.")
@click.option("--force", is_flag=True, help="Replace the --csv file if it exists.")
@_CACHE
@_NO_CACHE
@pass_options
def stats_command(
    options: ReviewOptions, identity: Path, since: dt.datetime | None,
    until: dt.datetime | None, status: str | None, label: str | None, category: str | None,
    csv_out: Path | None, charts: Path | None, force: bool, cache: Path | None, no_cache: bool,
) -> None:
    """Count reports by week, month, category, place, who was affected, status and priority."""
    if csv_out is not None and csv_out.exists() and not force:
        raise click.ClickException(f"{csv_out} exists: choose another name, or pass --force")
    identities = _identities(identity)
    records = decrypted_records(options, identities, cache=_cache_path(options, cache, no_cache))
    filters = Filters(since.date() if since else None, until.date() if until else None,
                      status, label, category)
    result = overview(records, filters, names=questionnaire_names(shape_for(options, records)))
    click.echo(f"{result.reports} reports" + (
        f" ({result.unreadable} not sealed to your key: counted by day, status and priority "
        "only)" if result.unreadable else ""))
    for figure in result.figures:
        click.echo(f"\n{figure.title}")
        width = max((len(r.label) for r in figure.rows), default=0)
        for row in figure.rows:
            click.echo(f"  {row.label.ljust(width)}  {row.count:>6}")
    if csv_out is not None:
        try:
            write_export(csv_out, csv_text(overview_csv_rows(result)), force=force)
        except ExportError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"\nnumbers written to {csv_out}")
    if charts is not None:
        from review.monitoring.charts import FORMATS as CHART_FORMATS
        from review.monitoring.charts import render_chart

        charts.mkdir(parents=True, exist_ok=True, mode=0o700)
        for figure in result.figures:
            for fmt in CHART_FORMATS:
                (charts / f"{figure.name}.{fmt}").write_bytes(render_chart(figure, fmt))
        click.echo(f"charts written to {charts}")


@click.command("export-data")
@_IDENTITY
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The file to write (plaintext!).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@_CACHE
@_NO_CACHE
@pass_options
def export_data_command(
    options: ReviewOptions, identity: Path, fmt: str, out: Path, force: bool,
    cache: Path | None, no_cache: bool,
) -> None:
    """One row per report, columns from the questionnaire's ids, as CSV or JSON Lines."""
    if out.exists() and not force:
        raise click.ClickException(f"{out} exists: choose another name, or pass --force")
    identities = _identities(identity)
    records = decrypted_records(options, identities, cache=_cache_path(options, cache, no_cache))
    try:
        write_export(out, export_text(records, shape_for(options, records), fmt), force=force)
    except ExportError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{len(records)} reports written to {out}")
    click.echo(f"Warning: {PLAINTEXT_WARNING}", err=True)


@click.command("export-uwazi")
@_IDENTITY
@click.option("--mapping", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              required=True, help="Questions to template properties (TOML or JSON); see "
              "docs/monitoring.md.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The zip to write (plaintext!).")
@click.option("--status", type=click.Choice(STATUSES), default=None,
              help="Only reports with this status.")
@click.option("--label", default=None, help="Only reports with this label.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@pass_options
def export_uwazi_command(
    options: ReviewOptions, identity: Path, mapping: Path, out: Path, status: str | None,
    label: str | None, force: bool,
) -> None:
    """Uwazi's CSV import package: import.csv, the files, custody manifests and signatures."""
    from review.monitoring.collect import all_summaries
    from review.monitoring.uwazi import (
        Entity,
        MappingError,
        check_against,
        entity,
        load_mapping,
        package,
    )
    from review.tools import open_report, public_key_from_pem

    if out.exists() and not force:
        raise click.ClickException(f"{out} exists: choose another name, or pass --force")
    try:
        rules = load_mapping(mapping)
        check_against(rules, shape_for(options, []))
    except MappingError as error:
        raise click.ClickException(str(error)) from None
    identities = _identities(identity)
    progress = _Progress("Decrypting reports on this machine")

    async def work(backend: CustodySource) -> tuple[list[Entity], int]:
        custody = public_key_from_pem(await backend.custody_public_pem())
        summaries = [
            s for s in await all_summaries(backend)
            if (status is None or s.status == status) and (label is None or label in s.labels)
        ]
        entities, skipped = [], 0
        decrypted: list[tuple[str, int]] = []
        try:
            for done, summary in enumerate(summaries, start=1):
                try:
                    opened = await open_report(backend, summary.report_id, identities, custody)
                except crypto.DecryptionError:
                    skipped += 1
                    continue
                finally:
                    progress(done, len(summaries))
                stored = await backend.get_report(summary.report_id)
                decrypted += [(summary.report_id, item.seq) for item in stored.items]
                entities.append(entity(opened, stored.manifest, stored.manifest_signature, rules))
        finally:
            progress.close()
            await record_bulk_access(backend, decrypted, via="cli")
        return entities, skipped

    entities, skipped = _with_backend(options, work)
    try:
        write_export(out, "", force=force)  # checks the place and makes it the owner's alone
        out.write_bytes(package(entities, rules))
    except ExportError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{len(entities)} entities written to {out}" + (
        f"; {skipped} reports not sealed to your key were left out" if skipped else ""))
    click.echo(f"Warning: {PLAINTEXT_WARNING} Originals may carry camera and location data.",
               err=True)

