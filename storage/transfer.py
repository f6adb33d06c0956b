"""Copying a store: a consistent snapshot for backups, and the move from SQLite to PostgreSQL.

The copy works on tables, not through the repositories: every table the models declare is
copied row for row in foreign-key order, so nothing is left behind (reports and items, drafts
and the outbox, channels, reviewers, credentials, the audit trail and its index, custody
manifests, evidence). A table in the source that the models do not know stops the copy, since
it would otherwise be silently dropped. Rows are copied as stored: sealed drafts stay sealed
with the draft key, which is not in the database, and the copy never decrypts anything.

Payloads are copied through the payload stores (storage/blobs.py, storage/payload_table.py),
each checked against the SHA-256 its item row records while it streams, so a payload damaged
in the source is named instead of copied.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, delete, func, insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.blobs import BlobStore
from storage.models import (
    AuditRow,
    Base,
    ChatStateRow,
    ItemRow,
    PayloadChunkRow,
    PayloadRow,
    RecipientRow,
    ReportRow,
)

# The payload tables are a payload store, not the installation's state: payloads are copied
# through the stores, so a backup holds them as files whichever store they came from.
PAYLOAD_TABLES = frozenset({PayloadRow.__tablename__, PayloadChunkRow.__tablename__})
_BOOKKEEPING = frozenset({"alembic_version"})
_BATCH = 500
_READ_CHUNK = 1 << 20


class TransferError(Exception):
    """One line naming what stops the copy and the fix."""


async def table_names(connection: AsyncConnection) -> set[str]:
    def names(sync: Connection) -> set[str]:
        return set(inspect(sync).get_table_names())

    return await connection.run_sync(names)


async def schema_revision(connection: AsyncConnection) -> str | None:
    rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    return ",".join(sorted(str(row[0]) for row in rows)) or None


async def holds_an_installation(connection: AsyncConnection) -> bool:
    """Whether the store has anything of an installation (reports, reviewers, trail, drafts)."""
    for table in (ReportRow, RecipientRow, AuditRow, ChatStateRow):
        if await connection.scalar(select(func.count()).select_from(table)):
            return True
    return False


def _copied_tables() -> list[Any]:
    return [t for t in Base.metadata.sorted_tables if t.name not in PAYLOAD_TABLES]


async def copy_rows(source: AsyncConnection, target: AsyncConnection) -> dict[str, int]:
    """Copy every table's rows from `source` into `target` (both at the same schema revision;
    `target` holding no installation); returns the rows copied per table.

    Run it inside a transaction on each side: on the source, one repeatable-read transaction
    reads a consistent snapshot while the bot keeps writing; on the target, a failure part way
    leaves nothing behind.
    """
    known = {t.name for t in Base.metadata.sorted_tables}
    unknown = await table_names(source) - known - _BOOKKEEPING
    if unknown:
        raise TransferError(
            "the source store has tables this version does not know "
            f"({', '.join(sorted(unknown))}): run the copy with the version of intake that "
            "wrote them"
        )
    theirs, ours = await schema_revision(source), await schema_revision(target)
    if theirs != ours:
        raise TransferError(
            f"the source store is at schema {theirs} and the target at {ours}: run any intake "
            "command against the source with this version first, so both are current"
        )
    if await holds_an_installation(target):
        raise TransferError(
            "the target database already holds an installation (reports, reviewers, an audit "
            "trail or drafts): give an empty database, or drop and create it again"
        )
    tables = _copied_tables()
    # The migrations put the default channel in every new store; the source has its own.
    for table in reversed(tables):
        await target.execute(delete(table))
    counts: dict[str, int] = {}
    for table in tables:
        copied = 0
        result = await source.stream(select(table))
        async for rows in result.partitions(_BATCH):
            await target.execute(insert(table), [_portable(row._mapping) for row in rows])
            copied += len(rows)
        counts[table.name] = copied
    if target.dialect.name == "postgresql":
        await _advance_sequences(target, tables)
    return counts


def _portable(row: Mapping[Any, Any]) -> dict[str, Any]:
    """SQLite keeps times without a zone (they are UTC); PostgreSQL wants them with one."""
    values = {str(name): value for name, value in row.items()}
    for name, value in values.items():
        if isinstance(value, dt.datetime):
            values[name] = (value.replace(tzinfo=dt.UTC) if value.tzinfo is None
                            else value.astimezone(dt.UTC))
    return values


async def _advance_sequences(target: AsyncConnection, tables: Iterable[Any]) -> None:
    """Rows came with their numbers: move each serial column's sequence past the largest."""
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            continue
        column = keys[0].name
        sequence = await target.scalar(
            text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": table.name, "column": column},
        )
        if sequence is None:
            continue
        largest = await target.scalar(select(func.coalesce(func.max(table.c[column]), 0)))
        await target.execute(
            text("SELECT setval(:sequence, :next, false)"),
            {"sequence": sequence, "next": int(largest or 0) + 1},
        )


async def payload_hashes(connection: AsyncConnection) -> dict[str, str]:
    """Every item's payload name and the SHA-256 its row records."""
    rows = await connection.execute(select(ItemRow.id, ItemRow.payload_sha256))
    return {str(name): str(digest) for name, digest in rows}


@dataclass
class PayloadCopy:
    """What a payload copy did: copied, and the names missing or damaged in the source."""

    copied: int = 0
    bytes: int = 0
    missing: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.damaged


def copy_payloads(source: BlobStore, target: BlobStore, expected: Mapping[str, str]) -> PayloadCopy:
    """Copy the named payloads, each checked against its SHA-256 as it streams (blocking: run
    it in a thread). A payload that is missing, or whose bytes do not match, is not written."""
    result = PayloadCopy()
    for name in sorted(expected):
        try:
            reader = source.open(name)
        except FileNotFoundError:
            result.missing.append(name)
            continue
        digest = hashlib.sha256()
        with reader, target.create(name) as writer:
            while chunk := reader.read(_READ_CHUNK):
                digest.update(chunk)
                writer.write(chunk)
            if digest.hexdigest() != expected[name]:
                writer.discard()
                result.damaged.append(name)
                continue
            result.bytes += writer.size
        result.copied += 1
    return result


def check_payloads(store: BlobStore, expected: Mapping[str, str]) -> PayloadCopy:
    """Read every named payload and compare its SHA-256 with the recorded one (blocking)."""
    result = PayloadCopy()
    for name in sorted(expected):
        try:
            reader = store.open(name)
        except FileNotFoundError:
            result.missing.append(name)
            continue
        digest = hashlib.sha256()
        with reader:
            while chunk := reader.read(_READ_CHUNK):
                digest.update(chunk)
                result.bytes += len(chunk)
        if digest.hexdigest() != expected[name]:
            result.damaged.append(name)
        else:
            result.copied += 1
    return result


def sqlite_online_backup(source_file: Path, target_file: Path) -> None:
    """A consistent copy of a live SQLite database through SQLite's online backup API.

    All pages are copied in one step, under one read transaction: the bot's writers go on (WAL),
    and the copy is the database as of one commit. The copy is one file (no WAL beside it).
    """
    source = sqlite3.connect(source_file, timeout=30)
    try:
        target = sqlite3.connect(target_file)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    as_one_file(target_file)


def as_one_file(database_file: Path) -> None:
    """Leave a SQLite database as one file: its WAL checkpointed and the journal mode DELETE."""
    connection = sqlite3.connect(database_file)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.commit()
    finally:
        connection.close()


async def sqlite_backup(source_file: Path, target_file: Path) -> None:
    await asyncio.to_thread(sqlite_online_backup, source_file, target_file)
