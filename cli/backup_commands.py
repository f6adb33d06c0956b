"""`intake backup`, `intake restore` and `intake migrate`: copies of a whole installation.

storage/backup.py and storage/transfer.py do the copying; cli/restore_checks.py checks the
result. Which database and payload store are meant comes from the settings, as for every
command: a restore goes into INTAKE_DATA_DIR (and INTAKE_DATABASE_URL, if set).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import click

from cli.config import ConfigError, Settings
from cli.store import open_storage, require_data_dir
from crypto.drafts import DraftKeyFileError, DraftKeyring
from storage.transfer import TransferError


def _run(coroutine: object) -> None:
    try:
        asyncio.run(coroutine)  # type: ignore[arg-type]
    except (ConfigError, TransferError) as error:
        raise click.ClickException(str(error)) from None


def _draft_key_bytes(settings: Settings) -> bytes | None:
    path = settings.resolved_draft_key_file
    if settings.drafts == "ephemeral" or not path.is_file():
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        raise click.ClickException(
            f"cannot read the draft key {path} ({error.strerror}): run as the bot's user"
        ) from None


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists: give a new file name") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@click.command("backup")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--draft-key-to", type=click.Path(path_type=Path), default=None,
              help="Also copy the draft key to this file, which must be outside DEST (keep "
              "it on another medium than the backup).")
@click.pass_obj
def backup_command(settings: Settings, dest: Path, draft_key_to: Path | None) -> None:
    """Copy the installation into a new folder while the bot runs (never the draft key).

    DEST receives the database as of one moment, its payloads, server.key and custody.key.
    """
    from storage.backup import make_backup

    os.umask(0o077)  # everything in the backup readable by its owner only
    draft_key = _draft_key_bytes(settings)
    if draft_key_to is not None:
        if _inside(draft_key_to, dest):
            raise click.ClickException(
                "--draft-key-to must be outside the backup folder: whoever holds both reads "
                "the drafts in it; write the key to another medium"
            )
        if draft_key is None:
            raise click.ClickException(
                f"there is no draft key at {settings.resolved_draft_key_file} to copy: set "
                "INTAKE_DRAFT_KEY_FILE as the bot has it, or omit --draft-key-to"
            )

    async def run() -> None:
        require_data_dir(settings)
        async with open_storage(settings, must_exist=True) as storage:
            contents, payloads = await make_backup(
                settings.resolved_database_url, storage.blobs, settings.data_dir, dest,
                draft_key=draft_key,
            )
        if draft_key_to is not None and draft_key is not None:
            _write_private(draft_key_to, draft_key)
        tables = contents.tables
        click.echo(f"backup written to {dest} (see {dest / 'README.txt'}):")
        click.echo(f"  {tables.get('reports', 0)} reports, {contents.payloads} payloads "
                   f"({contents.payload_bytes} bytes), {tables.get('audit_log', 0)} audit "
                   f"entries, {tables.get('chat_states', 0)} drafts, "
                   f"{tables.get('outbox', 0)} unsent messages; server.key, custody.key")
        if draft_key_to is not None:
            click.echo(f"  the draft key went to {draft_key_to}: keep it apart from the backup")
        else:
            click.echo(f"  NOT the draft key ({settings.resolved_draft_key_file}): keep a copy "
                       "of it apart from the backups, or drafts cannot be resumed after a "
                       "restore")
        click.echo("  keep the folder encrypted and readable by administrators only; check it "
                   "with `intake restore` into a scratch directory")
        if not payloads.complete:
            raise click.ClickException(
                f"{len(payloads.missing)} payloads missing and {len(payloads.damaged)} damaged "
                "in the installation (retention may have shredded reports meanwhile): run the "
                "backup again into a new folder"
            )

    _run(run())


@click.command("restore")
@click.argument("source", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--draft-key", "draft_key_file", type=click.Path(path_type=Path), default=None,
              help="The draft key kept apart from the backup; it is placed where the settings "
              "say (INTAKE_DRAFT_KEY_FILE, or keys/draft.key in the data directory).")
@click.pass_obj
def restore_command(settings: Settings, source: Path, draft_key_file: Path | None) -> None:
    """Restore a backup into a new data directory and check everything in it.

    SOURCE goes into a new, empty INTAKE_DATA_DIR (and INTAKE_DATABASE_URL, an empty
    PostgreSQL database, if set).
    """
    from storage.backup import (
        BackupContents,
        draft_key_fingerprint,
        restore_database,
        restore_keys,
        restore_payloads,
    )

    os.umask(0o077)  # the restored store readable by its owner only, as the bot makes it
    data_dir = settings.data_dir
    if data_dir.exists() and any(data_dir.iterdir()):
        raise click.ClickException(
            f"{data_dir} is not empty: set INTAKE_DATA_DIR to a new directory to restore into"
        )
    keyring = None
    draft_key: bytes | None = None
    if draft_key_file is not None:
        try:
            keyring = DraftKeyring.from_file(draft_key_file)
        except DraftKeyFileError as error:
            raise click.ClickException(str(error)) from None
        draft_key = draft_key_file.read_bytes()

    async def run() -> None:
        contents = BackupContents.read(source)
        if (draft_key is not None and contents.draft_key_fingerprint is not None
                and draft_key_fingerprint(draft_key) != contents.draft_key_fingerprint):
            raise click.ClickException(
                f"{draft_key_file} is not the draft key the backup's drafts were sealed with: "
                "give the right one, or none (drafts under way are then lost)"
            )
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        await restore_database(source, contents, settings.resolved_database_url, data_dir)
        restore_keys(source, data_dir)
        if draft_key is not None:
            _write_private(settings.resolved_draft_key_file, draft_key)
        async with open_storage(settings, must_exist=True) as storage:
            copied = await restore_payloads(source, settings.resolved_database_url,
                                            storage.blobs)
            click.echo(f"restored into {data_dir}: {contents.tables.get('reports', 0)} reports, "
                       f"{copied.copied} payloads, keys; checking it ...")
            if copied.damaged:
                shown = ", ".join(copied.damaged[:5])
                click.echo(f"  PROBLEM: {len(copied.damaged)} payloads damaged in the backup: "
                           f"{shown} (not restored)")
            await _check(settings, storage, keyring)

    _run(run())


async def _check(settings: Settings, storage: object, keyring: DraftKeyring | None) -> None:
    from cli.restore_checks import check_installation
    from storage import Storage

    assert isinstance(storage, Storage)
    custody = settings.data_dir / "keys" / "custody.key"
    if not custody.is_file():
        raise click.ClickException(f"{custody} is missing: the backup held no custody key")
    result = await check_installation(storage, custody.read_bytes(), keyring)
    for line in result.lines():
        click.echo(f"  {line}")
    if not result.ok:
        raise click.ClickException("the restored installation has problems (listed above)")
    click.echo("restored installation checked: everything holds")


@click.command("migrate")
@click.option("--to", "target_url", required=True, metavar="URL",
              help="The new, empty PostgreSQL database (postgresql+asyncpg://USER:PASSWORD@"
              "HOST/DB).")
@click.option("--payloads", type=click.Choice(["directory", "database"]), default="directory",
              show_default=True,
              help="Where payloads live afterwards: the data directory (where they are now) "
              "or the database (for workers on several machines).")
@click.pass_obj
def migrate_command(settings: Settings, target_url: str, payloads: str) -> None:
    """Carry a SQLite installation into PostgreSQL (stop the bot first).

    Then set INTAKE_DATABASE_URL (and INTAKE_PAYLOADS) and start it. Keys and the draft key
    stay where they are; drafts go on.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from storage.backup import sqlite_file

    try:
        url = make_url(target_url)
    except ArgumentError:
        raise click.ClickException("--to is not a database URL: postgresql+asyncpg://...") from None
    if url.get_backend_name() != "postgresql":
        raise click.ClickException("--to must be a PostgreSQL URL: postgresql+asyncpg://...")
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+asyncpg")
    source_file = sqlite_file(settings.resolved_database_url)
    if source_file is None:
        raise click.ClickException(
            "this installation already runs on PostgreSQL (INTAKE_DATABASE_URL); migrate "
            "moves a SQLite installation (use `intake backup` and `intake restore` to copy one)"
        )

    async def run() -> None:
        from cli.restore_checks import check_installation
        from storage import Storage
        from storage.transfer import copy_payloads, copy_rows, payload_hashes

        require_data_dir(settings)
        source = await Storage.open(settings.resolved_database_url, settings.data_dir / "blobs")
        try:
            target = await Storage.open(
                url.render_as_string(hide_password=False), settings.data_dir / "blobs",
                payloads="database" if payloads == "database" else "directory",
            )
        except OSError as error:
            await source.close()
            raise click.ClickException(
                f"cannot reach the target database ({type(error).__name__}): check that "
                "PostgreSQL runs and the URL is right"
            ) from None
        try:
            async with source.engine.connect() as reading, target.engine.begin() as writing:
                counts = await copy_rows(reading, writing)
                hashes = await payload_hashes(reading)
            if payloads == "database":
                copied = await asyncio.to_thread(copy_payloads, source.blobs, target.blobs,
                                                 hashes)
                if not copied.complete:
                    raise click.ClickException(
                        f"{len(copied.missing)} payloads missing, {len(copied.damaged)} "
                        "damaged in the data directory: the rows are in PostgreSQL, but fix "
                        "the payloads (restore them from a backup) before switching"
                    )
            keys = settings.data_dir / "keys" / "custody.key"
            draft = settings.resolved_draft_key_file
            keyring = DraftKeyring.from_file(draft) if draft.is_file() else None
            result = await check_installation(target, keys.read_bytes(), keyring)
        finally:
            await source.close()
            await target.close()
        for line in result.lines():
            click.echo(f"  {line}")
        if not result.ok:
            raise click.ClickException(
                "the copy in PostgreSQL has problems (listed above); the SQLite installation "
                "is unchanged"
            )
        moved = source_file.with_name(source_file.name + ".moved")
        for suffix in ("", "-wal", "-shm"):  # a WAL left beside it belongs with it
            if Path(f"{source_file}{suffix}").exists():
                shutil.move(f"{source_file}{suffix}", f"{moved}{suffix}")
        click.echo(
            f"moved {counts.get('reports', 0)} reports, {counts.get('chat_states', 0)} "
            f"drafts, {counts.get('outbox', 0)} unsent messages and "
            f"{counts.get('audit_log', 0)} audit entries into PostgreSQL; the SQLite file is "
            f"kept as {moved}. Now set INTAKE_DATABASE_URL to that database"
            + (" and INTAKE_PAYLOADS=database" if payloads == "database" else "")
            + ", keep INTAKE_DATA_DIR (keys, payloads) and the draft key, and start the bot"
        )

    _run(run())
