"""A copied SQLite file cannot tell in which order reports arrived within a day.

Ordinary SQLite tables number their rows as they arrive (the rowid); migration 0004 rebuilds
the tables that hold reports WITHOUT ROWID, so each is a B-tree keyed by its random id. These
tests read the raw file, page by page, as someone holding a copy would.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import shutil
import sqlite3
import struct
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from storage import ItemRole, NewItem, NewReport, Storage, default_sqlite_url
from storage.database import _alembic_config

DAY = dt.date(2026, 11, 24)
TABLES = ("reports", "items", "item_recipients", "report_labels", "notes", "witness_messages")
_INDEX_PAGES = (0x02, 0x0A)  # interior and leaf pages of an index B-tree: no rowid in them


def _report(report_id: str) -> NewReport:
    return NewReport(
        report_id=report_id,
        received_day=DAY,
        receipt_hash=secrets.token_bytes(32),
        submission_key=secrets.token_bytes(32),
        manifest=b'{"items":[]}' + secrets.token_bytes(200),
        manifest_signature=secrets.token_bytes(64),
        items=tuple(
            NewItem(
                item_id=secrets.token_hex(16), seq=seq,
                role=ItemRole.ANSWERS if seq == 0 else ItemRole.ATTACHMENT,
                header=b"age-encryption.org/v1\n" + secrets.token_bytes(150),
                payload_size=100, payload_sha256="ab" * 32,
                recipient_key_ids=(secrets.token_hex(8),),
            )
            for seq in range(2)
        ),
        witness_recipient=None,
    )


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        byte = data[at + i]
        if i == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    raise AssertionError("unreachable")


def _first_column(record: bytes) -> bytes:
    """The first value of a record (the key's first column), read from its serial type."""
    header_size, at = _varint(record, 0)
    serial, _ = _varint(record, at)
    assert serial >= 13 and serial % 2, "the first key column is text"
    length = (serial - 13) // 2
    return record[header_size:header_size + length]


def btree_keys(raw: bytes, root: int) -> tuple[set[int], list[bytes]]:
    """Walk a B-tree in the raw file: the page types met, and the keys in B-tree order."""
    page_size = struct.unpack(">H", raw[16:18])[0] or 65536
    types: set[int] = set()
    keys: list[bytes] = []

    def walk(page: int) -> None:
        start = (page - 1) * page_size
        header = start + (100 if page == 1 else 0)
        kind = raw[header]
        types.add(kind)
        cells = struct.unpack(">H", raw[header + 3:header + 5])[0]
        interior = kind in (0x02, 0x05)
        pointers = header + (12 if interior else 8)
        for i in range(cells):
            cell = start + struct.unpack(">H", raw[pointers + 2 * i:pointers + 2 * i + 2])[0]
            if interior:
                walk(struct.unpack(">I", raw[cell:cell + 4])[0])
                cell += 4
            if kind in _INDEX_PAGES:
                _size, at = _varint(raw, cell)
                keys.append(_first_column(raw[at:at + 200]))
            elif kind == 0x0D:
                _size, at = _varint(raw, cell)
                rowid, at = _varint(raw, at)
                keys.append(str(rowid).encode())
        if interior:
            walk(struct.unpack(">I", raw[header + 8:header + 12])[0])

    walk(root)
    return types, keys


async def test_a_copied_sqlite_file_keeps_no_order_of_arrival(tmp_path: Path) -> None:
    """No rowids anywhere; each table's B-tree is in the order of its random ids."""
    data = tmp_path / "data"
    storage = await Storage.open(default_sqlite_url(data), data / "blobs")
    # Arrival order chosen to be the reverse of the ids' order, so it cannot pass by chance.
    arrived = sorted((secrets.token_hex(16) for _ in range(60)), reverse=True)
    try:
        for report_id in arrived:
            await storage.reports.add(_report(report_id))
            await storage.triage.add_label(report_id, "seen")
            await storage.triage.add_note(
                report_id, secrets.token_hex(16), "rita", DAY, b"sealed note"
            )
            await storage.triage.add_witness_message(
                report_id, secrets.token_hex(16), DAY, b"sealed question"
            )
    finally:
        await storage.close()
    copy = tmp_path / "copy.db"
    shutil.copyfile(data / "intake.db", copy)
    assert not (data / "intake.db-wal").exists() or (data / "intake.db-wal").stat().st_size == 0

    with sqlite3.connect(copy) as db:
        roots = dict(db.execute(
            "SELECT name, rootpage FROM sqlite_master WHERE type = 'table'"
        ).fetchall())
        for table in TABLES:
            try:
                db.execute(f"SELECT rowid FROM {table}").fetchall()
            except sqlite3.OperationalError as error:
                assert "rowid" in str(error)
            else:
                raise AssertionError(f"{table} still has rowids")
    raw = copy.read_bytes()
    for table in TABLES:
        types, keys = btree_keys(raw, roots[table])
        assert types <= set(_INDEX_PAGES), f"{table} is stored under rowids ({types})"
        assert keys == sorted(keys) and len(keys) >= len(arrived), table
    _types, report_keys = btree_keys(raw, roots["reports"])
    assert [k.decode() for k in report_keys] == sorted(arrived) != arrived


async def test_upgrading_an_existing_database_keeps_every_row(
    empty_database_url: str, tmp_path: Path
) -> None:
    """A store made before 0004 keeps its rows, keys, indexes and cascades after the rebuild."""
    (tmp_path / "data").mkdir(exist_ok=True)  # where the SQLite variant's file goes
    engine = create_async_engine(empty_database_url)
    async with engine.begin() as connection:
        await connection.run_sync(
            lambda sync: command.upgrade(_alembic_config(sync), "0003")
        )
    await engine.dispose()
    # Write with the pre-0004 schema, then run 0004 alone and compare, then on to the head.
    old = await Storage.open(empty_database_url, tmp_path / "blobs", migrate=False)
    reports = [_report(secrets.token_hex(16)) for _ in range(5)]
    try:
        for report in reports:
            await old.reports.add(report)
            async with old.engine.begin() as connection:  # the 0002 label table, by hand
                await connection.execute(
                    text("INSERT INTO report_labels (report_id, label) VALUES (:r, 'seen')"),
                    {"r": report.report_id},
                )
            async with old.engine.begin() as connection:  # 0002 notes and messages, by hand
                await connection.execute(text(
                    "INSERT INTO notes (id, report_id, author, created_on, sealed) "
                    "VALUES (:i, :r, 'rita', :d, :s)"
                ), {"i": secrets.token_hex(16), "r": report.report_id, "d": DAY, "s": b"n"})
                await connection.execute(text(
                    "INSERT INTO witness_messages (id, report_id, created_on, sealed) "
                    "VALUES (:i, :r, :d, :s)"
                ), {"i": secrets.token_hex(16), "r": report.report_id, "d": DAY, "s": b"question"})
    finally:
        await old.close()
    before = await _schema_objects(empty_database_url)
    engine = create_async_engine(empty_database_url)
    async with engine.begin() as connection:  # 0004 alone: the rebuild keeps the schema
        await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0004"))
    await engine.dispose()
    after_rebuild = await _schema_objects(empty_database_url)
    storage = await Storage.open(empty_database_url, tmp_path / "blobs")  # and on to the head
    try:
        if empty_database_url.startswith("sqlite"):
            assert after_rebuild == before, "indexes or tables changed"
            async with storage.engine.connect() as connection:
                for table in TABLES:
                    (sql,) = (await connection.exec_driver_sql(
                        f"SELECT sql FROM sqlite_master WHERE name = '{table}'"
                    )).one()
                    assert sql.rstrip().endswith(" WITHOUT ROWID"), table
        for report in reports:
            stored = await storage.reports.get(report.report_id)
            assert stored is not None
            assert [dataclasses.astuple(i)[:2] for i in stored.items] == [
                (i.item_id, i.seq) for i in report.items
            ]
            assert [i.recipient_key_ids for i in stored.items] == [
                i.recipient_key_ids for i in report.items
            ]
            assert len(await storage.triage.notes(report.report_id)) == 1
            assert len(await storage.triage.witness_messages(report.report_id)) == 1
        # Deleting a report still cascades to its items, labels, notes and questions.
        async with storage.engine.begin() as connection:
            (labelled,) = (await connection.exec_driver_sql(
                "SELECT count(*) FROM report_labels WHERE label = 'seen'"
            )).one()
            assert labelled == len(reports)
            await connection.exec_driver_sql(
                f"DELETE FROM reports WHERE id = '{reports[0].report_id}'"
            )
            for table in ("items", "report_labels", "notes", "witness_messages"):
                (count,) = (await connection.exec_driver_sql(
                    f"SELECT count(*) FROM {table} WHERE report_id = '{reports[0].report_id}'"
                )).one()
                assert count == 0, table
            (orphans,) = (await connection.exec_driver_sql(
                "SELECT count(*) FROM item_recipients WHERE item_id NOT IN (SELECT id FROM items)"
            )).one()
            assert orphans == 0
    finally:
        await storage.close()


async def _schema_objects(database_url: str) -> dict[str, object]:
    """Per SQLite table: its columns, indexes (unique or not, why, which columns), foreign keys."""
    if not database_url.startswith("sqlite"):
        return {}
    engine = create_async_engine(database_url)
    found: dict[str, object] = {}
    try:
        async with engine.connect() as connection:
            async def rows(sql: str) -> list[tuple[object, ...]]:
                return [tuple(r) for r in await connection.exec_driver_sql(sql)]

            for table in TABLES:
                indexes = set()
                for _seq, name, unique, origin, _partial in await rows(
                    f"PRAGMA index_list('{table}')"
                ):
                    columns = tuple(r[2] for r in await rows(f"PRAGMA index_info('{name}')"))
                    indexes.add((unique, origin, columns))
                found[table] = (
                    await rows(f"PRAGMA table_info('{table}')"),
                    indexes,
                    sorted(r[2:] for r in await rows(f"PRAGMA foreign_key_list('{table}')")),
                )
        return found
    finally:
        await engine.dispose()
