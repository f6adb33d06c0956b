"""`intake evidence anchor|status|renew` (on the server) and `intake verify DIR` (anywhere).

The anchoring itself is review/evidence/anchor.py; `intake serve` runs it every few minutes
(`periodic_anchoring`), and `intake evidence anchor` runs it once, for cron or an administrator.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.config import ConfigError, Settings
from cli.store import open_storage
from review.evidence.anchor import (
    Anchorer,
    AnchorPolicy,
    DayStatus,
    evidence_status,
    failure_fix,
)
from storage import Storage
from storage.models import INSTALLATION_TREE, LEGACY_TREE

log = logging.getLogger("intake.evidence")
T = TypeVar("T")
# How often `intake serve` looks for a closed day or a queued one whose retry is due.
ANCHOR_INTERVAL = dt.timedelta(minutes=5)


def _policy(settings: Settings) -> AnchorPolicy:
    return AnchorPolicy(grace=dt.timedelta(minutes=settings.anchor_grace_minutes))


def anchorer_for(settings: Settings, storage: Storage) -> Anchorer:
    return Anchorer(storage.evidence, settings.tsa_configs(), policy=_policy(settings))


@contextlib.asynccontextmanager
async def periodic_anchoring(
    settings: Settings, storage: Storage, interval: dt.timedelta = ANCHOR_INTERVAL
) -> AsyncIterator[None]:
    """Anchor in the background while the bot runs; a failed round is logged, never fatal."""
    anchorer = anchorer_for(settings, storage)  # a configuration error stops start-up

    async def loop() -> None:
        while True:
            try:
                await anchorer.run_once()
            except Exception:
                log.exception("evidence.anchor_failed: the next round retries; run "
                              "`intake evidence status` to see the queue")
            await asyncio.sleep(interval.total_seconds())

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@click.group("evidence")
def evidence_group() -> None:
    """Trusted time: anchor closed days with RFC 3161 authorities; see the queue."""


@evidence_group.command("anchor")
@click.pass_obj
def anchor_command(settings: Settings) -> None:
    """Build the trees of closed days and timestamp queued ones now (for cron; idempotent)."""

    async def run() -> tuple[list[dt.date], list[dt.date], list[tuple[dt.date, str]]]:
        async with open_storage(settings, must_exist=True) as storage:
            result = await anchorer_for(settings, storage).run_once()
        return result.built, result.anchored, result.failed

    built, anchored, failed = _run(run())
    for day in built:
        click.echo(f"built the tree of {day}")
    for day in anchored:
        click.echo(f"timestamped {day}")
    if not settings.tsa_url_list:
        click.echo("INTAKE_TSA_URLS is not set: trees are built but not timestamped; set it "
                   "(and INTAKE_TSA_CA_FILES) to the time-stamp authorities to use")
    if failed:
        for day, kind in failed:
            click.echo(f"{day}: no authority timestamped it ({kind}); it stays queued: "
                       f"{failure_fix(kind)}", err=True)
        raise click.ClickException("timestamping failed: fix what is named above, then run "
                                   "again")


@evidence_group.command("renew")
@click.pass_obj
def renew_command(settings: Settings) -> None:
    """Timestamp every channel's chain of timestamps again (renewal; run it well before an
    authority's certificate expires, e.g. yearly from cron)."""
    from review.evidence.renewal import renew

    async def run() -> tuple[list[tuple[str, int]], list[tuple[str, str]]]:
        async with open_storage(settings, must_exist=True) as storage:
            done = await renew(storage.evidence, storage.renewals, settings.tsa_configs())
        return done.renewed, done.failed

    if not settings.tsa_url_list:
        raise click.ClickException("INTAKE_TSA_URLS is not set: set it (and INTAKE_TSA_CA_FILES) "
                                   "to the time-stamp authorities to renew with")
    renewed, failed = _run(run())
    for channel, seq in renewed:
        click.echo(f"renewal {seq} of channel {channel!r} timestamped")
    for channel, kind in failed:
        click.echo(f"channel {channel!r}: no authority timestamped the renewal ({kind}): "
                   f"{failure_fix(kind)}", err=True)
    if failed:
        raise click.ClickException("renewal failed: fix what is named above, then run again")


def _duration(delta: dt.timedelta) -> str:
    hours, rest = divmod(int(delta.total_seconds()), 3600)
    return f"{hours // 24}d {hours % 24}h {rest // 60}m" if hours >= 24 else \
        f"{hours}h {rest // 60}m"


def status_line(status: DayStatus) -> str:
    channel = {INSTALLATION_TREE: "(installation)", LEGACY_TREE: "(all channels)"}.get(
        status.channel, status.channel)
    head = f"{status.day}  {channel}  {status.leaf_count:5d} leaves  "
    if status.anchored:
        return head + "anchored by " + ", ".join(status.authorities)
    parts = ["QUEUED"]
    if status.overdue:
        parts.append(f"{_duration(status.overdue)} overdue")
    parts.append(f"{status.attempts} attempt(s)")
    if status.last_failure:
        parts.append(f"last failure: {status.last_failure}")
    if status.next_attempt is not None:
        parts.append(f"next attempt {status.next_attempt.isoformat(timespec='minutes')}")
    return head + ", ".join(parts)


@evidence_group.command("status")
@click.pass_obj
def status_command(settings: Settings) -> None:
    """Days anchored and days queued: how long overdue, the last failure, the next attempt."""

    async def run() -> list[DayStatus]:
        async with open_storage(settings, must_exist=True) as storage:
            return await evidence_status(storage.evidence, dt.datetime.now(dt.UTC),
                                         _policy(settings))

    days = _run(run())
    if not days:
        click.echo("No day's tree is built yet (a day is built after it ends, UTC).")
    for status in days:
        click.echo(status_line(status))
    queued = [d for d in days if not d.anchored]
    if not settings.tsa_url_list:
        click.echo("INTAKE_TSA_URLS is not set: nothing is timestamped; set it and "
                   "INTAKE_TSA_CA_FILES")
    elif queued:
        click.echo(f"{len(queued)} day(s) queued: check INTAKE_TSA_URLS, INTAKE_TSA_CA_FILES "
                   "and the network, then run `intake evidence anchor`")


@evidence_group.command("rotate-custody-key")
@click.pass_obj
def rotate_custody_key_command(settings: Settings) -> None:
    """Replace keys/custody.key with a new key; the old one signs the hand-over (stop intake
    first). Appends to keys/custody-rotations.jsonl, which the organisation publishes."""
    import os
    import secrets

    from crypto.custody import custody_fingerprint, custody_public_key, rotation_record

    keys = settings.data_dir / "keys"
    current = keys / "custody.key"
    try:
        old = current.read_bytes()
    except OSError:
        raise click.ClickException(f"{current} is missing: there is no custody key to rotate "
                                   "(check INTAKE_DATA_DIR)") from None
    new = secrets.token_bytes(32)
    old_print = custody_fingerprint(custody_public_key(old))
    new_print = custody_fingerprint(custody_public_key(new))
    record = rotation_record(old, new, dt.datetime.now(dt.UTC).date().isoformat())
    retired = keys / f"custody.key.retired-{old_print[:16]}"
    temporary = keys / f".custody.key.{secrets.token_hex(8)}"
    for path, data in ((retired, old), (temporary, new)):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    with (keys / "custody-rotations.jsonl").open("ab") as rotations:
        rotations.write(record)
        rotations.flush()
        os.fsync(rotations.fileno())
    os.replace(temporary, current)
    click.echo(f"custody key rotated: {old_print} -> {new_print}")
    click.echo(f"the previous key is kept as {retired}; publish {keys / 'custody-rotations.jsonl'}"
               " and the new fingerprint beside the old one (docs/evidence-bundle.md); restart "
               "`intake serve` and review sessions so they sign with the new key")


@click.command("verify")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--custody-key", "custody_keys", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The organisation's published custody public key (PEM), obtained outside "
                   "the bundle; repeatable.")
@click.option("--custody-fingerprint", "custody_fingerprints", multiple=True,
              help="Or its published SHA-256 fingerprint (64 hex digits); repeatable.")
@click.option("--custody-rotations", "rotations", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The organisation's custody-rotations.jsonl: keys linked to a pinned one "
                   "by a rotation signed by both are accepted too; repeatable.")
@click.option("--tsa-ca", "tsa_cas", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="PEM CA certificate(s) a time-stamp authority publishes; repeatable.")
@click.option("--anchors", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              envvar="INTAKE_VERIFY_ANCHORS",
              help="A TOML file pinning the same (docs/evidence-bundle.md); "
                   "env INTAKE_VERIFY_ANCHORS.")
@click.option("--max-gap-hours", type=float, default=None,
              help="Warn when an item was first proven this long after its claimed receipt "
                   "day ended (default 48).")
@click.option("--max-file-size", type=int, default=None,
              help="Refuse, unread, any bundle file larger than this many bytes "
                   "(default 4 GiB).")
@click.option("--at", "at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
              default=None,
              help="Judge certificates' expiry as of this UTC time instead of now (how the "
                   "bundle will stand once an authority's certificate has expired).")
def verify_command(
    folder: Path, custody_keys: tuple[Path, ...], custody_fingerprints: tuple[str, ...],
    rotations: tuple[Path, ...], tsa_cas: tuple[Path, ...], anchors: Path | None,
    max_gap_hours: float | None, max_file_size: int | None, at: dt.datetime | None,
) -> None:
    """Check an evidence bundle against anchors from outside it; names what fails.

    Exit status: 0 OK, 1 FAILED, 3 UNANCHORED (no custody key or TSA CA pinned: the bundle
    vouches for itself), 4 NOT TIMESTAMPED (no token from a pinned authority).
    """
    from review.evidence.anchors import AnchorError, load_anchors
    from review.evidence.verdict import examine, summary

    try:
        pinned = load_anchors(
            custody_key_files=custody_keys, custody_fingerprints=custody_fingerprints,
            custody_rotations=rotations, tsa_ca_files=tsa_cas, config=anchors,
            max_gap_hours=max_gap_hours, max_file_size=max_file_size, bundle=folder)
    except AnchorError as error:
        raise click.UsageError(str(error)) from None
    if at is not None:
        pinned = dataclasses.replace(pinned, at=at.replace(tzinfo=dt.UTC))
    verdict = examine(folder, pinned)
    for name, problem in verdict.problems:
        click.echo(f"FAILED  {name}: {problem}")
    for line in summary(verdict):
        click.echo(line)
    if verdict.problems:
        click.echo(f"FAILED: {len(verdict.problems)} problem(s): this bundle is not as exported "
                   "or not from the pinned organisation", err=True)
    raise SystemExit(verdict.exit_code)
