"""Backups of an installation: what one holds, how it is made while the bot runs, and restored.

A backup is a directory:

    backup.json      what it holds: schema revision, rows per table, payloads, file hashes
    README.txt       the same for a person, and how to keep it safe
    intake.db        the database as of one moment (SQLite, whatever the installation used)
    blobs/           every payload an item of that database refers to (age ciphertext)
    keys/            server.key (receipt codes) and custody.key (custody signatures)

It never holds the draft key: whoever has a database copy and that key reads the drafts and
unsent messages of its day (deploy/README.md, "Backups"). The key is written elsewhere, if at
all, by the command (cli/backup_commands.py). Nothing in a backup opens a report: reports are
sealed to reviewers' keys, which are not on the server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.blobs import BlobStore
from storage.models import Base
from storage.transfer import (
    PAYLOAD_TABLES,
    PayloadCopy,
    TransferError,
    as_one_file,
    copy_payloads,
    copy_rows,
    payload_hashes,
    schema_revision,
    sqlite_online_backup,
)

MANIFEST = "backup.json"
DATABASE = "intake.db"
FORMAT = "incident-intake backup 1"
# server.key keys receipt-code lookups, custody.key signs manifests and the audit trail.
SERVER_KEYS = ("server.key", "custody.key")


@dataclass(frozen=True)
class BackupContents:
    """What backup.json says a backup holds."""

    made_on: str
    source: str
    schema: str | None
    tables: dict[str, int]
    payloads: int
    payload_bytes: int
    files: dict[str, str]
    draft_key_fingerprint: str | None

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, **self.__dict__}, indent=2, sort_keys=True).encode()

    @classmethod
    def read(cls, folder: Path) -> BackupContents:
        try:
            data: dict[str, Any] = json.loads((folder / MANIFEST).read_bytes())
        except FileNotFoundError:
            raise TransferError(
                f"{folder} is not a backup ({MANIFEST} is missing): give the folder "
                "`intake backup` wrote"
            ) from None
        except ValueError:
            raise TransferError(f"{folder / MANIFEST} is damaged: use another backup") from None
        if data.pop("format", None) != FORMAT:
            raise TransferError(f"{folder} was not written by `intake backup` (format unknown)")
        try:
            return cls(**data)
        except TypeError:
            raise TransferError(f"{folder / MANIFEST} is damaged: use another backup") from None


def draft_key_fingerprint(secret: bytes) -> str:
    """Names a draft key without revealing it (a hash of 32 random bytes), so a restore can
    tell whether the key it is given is the one the drafts were sealed with."""
    return hashlib.sha256(b"incident-intake draft key fingerprint\0" + secret).hexdigest()[:16]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _private_copy(source: Path, target: Path) -> None:
    """Copy a file into place readable by its owner only, synced."""
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out, source.open("rb") as src:
        shutil.copyfileobj(src, out)
        out.flush()
        os.fsync(out.fileno())


def _fresh_folder(folder: Path, what: str) -> None:
    if folder.exists() and any(folder.iterdir()):
        raise TransferError(f"{folder} is not empty: give a new folder for the {what}")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)


def sqlite_file(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    return Path(url.database or "")


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.resolve()}"


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name not in PAYLOAD_TABLES:
                counts[table.name] = int(
                    await connection.scalar(select(func.count()).select_from(table)) or 0
                )
    return counts


async def _snapshot_database(database_url: str, target: Path) -> None:
    """The database as of one moment, into the SQLite file `target`."""
    source_file = sqlite_file(database_url)
    if source_file is not None:
        await asyncio.to_thread(sqlite_online_backup, source_file, target)
        return
    from storage.database import Storage

    # A new SQLite store built by the real migrations, then every row from one PostgreSQL
    # snapshot: a read-only repeatable-read transaction sees the database as of its start
    # while the workers go on committing.
    copy = await Storage.open(_sqlite_url(target), target.parent / "blobs")
    source = create_async_engine(database_url)
    try:
        async with source.connect() as reading:
            snapshot = await reading.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            async with snapshot.begin(), copy.engine.begin() as writing:
                await copy_rows(snapshot, writing)
    finally:
        await source.dispose()
        await copy.close()
    as_one_file(target)


async def make_backup(
    database_url: str,
    payloads: BlobStore,
    data_dir: Path,
    dest: Path,
    *,
    draft_key: bytes | None,
) -> tuple[BackupContents, PayloadCopy]:
    """Write a backup of the installation into the new folder `dest` (see the module)."""
    _fresh_folder(dest, "backup")
    database = dest / DATABASE
    await _snapshot_database(database_url, database)
    engine = create_async_engine(_sqlite_url(database))
    try:
        async with engine.connect() as connection:
            hashes = await payload_hashes(connection)
            revision = await schema_revision(connection)
        tables = await _counts(engine)
    finally:
        await engine.dispose()
    # Payloads are written before the rows that name them and deleted only with those rows,
    # so every payload the snapshot names is still there unless retention shredded its report
    # in the meantime (then it is named as missing).
    copied = await asyncio.to_thread(
        copy_payloads, payloads, BlobStore(dest / "blobs", durable=False), hashes
    )
    (dest / "keys").mkdir(mode=0o700)
    for name in SERVER_KEYS:
        source = data_dir / "keys" / name
        if source.is_file():
            _private_copy(source, dest / "keys" / name)
    files = {
        str(path.relative_to(dest)): _sha256(path)
        for path in [database, *sorted((dest / "keys").iterdir())]
    }
    contents = BackupContents(
        made_on=dt.datetime.now(dt.UTC).date().isoformat(),  # the day only, as in the store
        source=make_url(database_url).get_backend_name(),
        schema=revision,
        tables=tables,
        payloads=copied.copied,
        payload_bytes=copied.bytes,
        files=files,
        draft_key_fingerprint=draft_key_fingerprint(draft_key) if draft_key else None,
    )
    (dest / MANIFEST).write_bytes(contents.to_json())
    (dest / "README.txt").write_text(readme(contents), encoding="utf-8")
    for path in (database, dest / MANIFEST, dest / "README.txt"):
        path.chmod(0o600)
    await asyncio.to_thread(os.sync)  # the payloads were written without a sync each
    return contents, copied


def readme(contents: BackupContents) -> str:
    tables = contents.tables
    return f"""incident-intake backup of {contents.made_on} (from {contents.source})

What it holds
  intake.db   the database as of one moment: {tables.get('reports', 0)} reports,
              {tables.get('items', 0)} sealed items, {tables.get('audit_log', 0)} audit entries,
              {tables.get('chat_states', 0)} drafts and {tables.get('outbox', 0)} unsent messages
              (both sealed with the draft key), reviewers' public keys, channels, credentials
              (hashes only), custody and evidence records.
  blobs/      {contents.payloads} sealed payloads (age ciphertext), {contents.payload_bytes} bytes.
  keys/       server.key (finds reports by receipt code) and custody.key (signs custody
              manifests and the audit trail).

What it does not hold
  The draft key. Keep it apart from this backup (another medium, another place): whoever
  holds both can read the drafts and unsent messages in intake.db, receipt codes among them.
  Without it a restored installation loses only conversations under way and unsent messages.
  Reviewers' private keys and the offline recovery key are never on the server.

Keeping it safe
  No report can be read from this backup without a reviewer's or the recovery key. But
  server.key lets whoever holds intake.db test guessed receipt codes, and custody.key lets
  them sign forged custody records: keep the backup encrypted at rest (e.g. `age -r` to the
  recovery key, or an encrypted disk), readable by administrators only, and destroy old
  copies on schedule (retention applies to backups too).

Restoring
  INTAKE_DATA_DIR=/new/empty/dir intake restore THIS_FOLDER --draft-key FILE
  restores it and checks every item, payload, custody signature and the audit trail.
"""


async def restore_database(
    backup: Path, contents: BackupContents, database_url: str, data_dir: Path
) -> None:
    """Put the backup's database where `database_url` points (an empty store)."""
    for name, digest in contents.files.items():
        path = backup / name
        if not path.is_file() or _sha256(path) != digest:
            raise TransferError(
                f"{path} is missing or changed since the backup was made: use another backup"
            )
    from storage.database import Storage

    target_file = sqlite_file(database_url)
    if target_file is not None:
        if target_file.exists():
            raise TransferError(f"{target_file} exists: restore into a new data directory")
        target_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _private_copy(backup / DATABASE, target_file)
        # Brings a backup from an older version to the current schema.
        store = await Storage.open(database_url, data_dir / "blobs")
        await store.close()
        return
    # PostgreSQL: the backup's database is brought to the current schema in a scratch copy,
    # then copied row for row into the (new, empty) target.
    scratch = data_dir / f".restore-{os.getpid()}.db"
    _private_copy(backup / DATABASE, scratch)
    try:
        source = await Storage.open(_sqlite_url(scratch), data_dir / "blobs")
        target = await Storage.open(database_url, data_dir / "blobs")
        try:
            async with source.engine.connect() as reading, target.engine.begin() as writing:
                await copy_rows(reading, writing)
        finally:
            await source.close()
            await target.close()
    finally:
        scratch.unlink(missing_ok=True)


def restore_keys(backup: Path, data_dir: Path) -> None:
    keys = data_dir / "keys"
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in SERVER_KEYS:
        source = backup / "keys" / name
        if source.is_file():
            if (keys / name).exists():
                raise TransferError(f"{keys / name} exists: restore into a new data directory")
            _private_copy(source, keys / name)


async def restore_payloads(backup: Path, database_url: str, target: BlobStore) -> PayloadCopy:
    """Copy the backup's payloads into the restored installation's payload store."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            hashes = await payload_hashes(connection)
    finally:
        await engine.dispose()
    if type(target) is BlobStore:  # a directory: write without a sync each, then sync once
        target = BlobStore(target.root, durable=False)
    copied = await asyncio.to_thread(copy_payloads, BlobStore(backup / "blobs"), target, hashes)
    await asyncio.to_thread(os.sync)
    return copied
