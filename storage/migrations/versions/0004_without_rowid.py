"""SQLite: rebuild the tables that hold reports WITHOUT ROWID, so the file keeps no arrival order.

An ordinary SQLite table stores every row under a rowid that counts up as rows arrive, so a
copied database file would tell in which order reports, their items, notes and questions came
in, although their ids are random and docs/storage-format.md promises nothing finer than the
day. A WITHOUT ROWID table is a B-tree keyed by its primary key alone: rows sit in the order of
their random ids. Each table is rebuilt under its own name and copied in key order; its indexes,
unique constraints and foreign keys are created again exactly as they were.

PostgreSQL has no rowid; its physical row order is discussed in docs/threat-model.md (section 8).

Revision ID: 0004
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0004"
# The lead re-chains this after "0003" when merging.
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Parents before children, so each copy's foreign keys find their rows.
TABLES = ("reports", "items", "item_recipients", "report_labels", "notes", "witness_messages")
_SUFFIX = " WITHOUT ROWID"


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        _rebuild_all(connection, without_rowid=True)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        _rebuild_all(connection, without_rowid=False)


def _rebuild_all(connection: Connection, *, without_rowid: bool) -> None:
    """Keep each table's rows aside, drop the tables, create them again, copy the rows back.

    Renaming a table that others reference rewrites their REFERENCES clauses, and dropping a
    parent while its children exist cascades into them; PRAGMA foreign_keys cannot be switched
    off inside the migration's transaction. So the rows are kept in plain tables that nothing
    references, the tables are dropped children first (nothing left to cascade into), and
    created again parents first, with the same SQL, indexes, keys and constraints.
    """
    # Every name in the SQL below is one of TABLES or a column SQLite itself listed.
    schema = {table: _schema(connection, table) for table in TABLES}
    for table in TABLES:
        connection.exec_driver_sql(
            f'CREATE TABLE "_keep_{table}" AS SELECT * FROM "{table}"'  # noqa: S608
        )
    for table in reversed(TABLES):
        connection.exec_driver_sql(f'DROP TABLE "{table}"')
    for table in TABLES:
        create, indexes, keys = schema[table]
        create = create.rstrip().removesuffix(_SUFFIX).rstrip()
        connection.exec_driver_sql(create + (_SUFFIX if without_rowid else ""))
        columns = ", ".join(f'"{c}"' for c in _columns(connection, table))
        # In key order: even the order rows were written in follows the random ids.
        order = ", ".join(f'"{k}"' for k in keys)
        connection.exec_driver_sql(
            f'INSERT INTO "{table}" ({columns}) '  # noqa: S608
            f'SELECT {columns} FROM "_keep_{table}" ORDER BY {order}'
        )
        connection.exec_driver_sql(f'DROP TABLE "_keep_{table}"')
        for sql in indexes:
            connection.exec_driver_sql(sql)
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")


def _schema(connection: Connection, table: str) -> tuple[str, list[str], list[str]]:
    """The table's CREATE statement, its explicit CREATE INDEX statements, its key columns."""
    (create,) = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).one()
    indexes = [sql for (sql,) in connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,),
    )]
    info = [r for r in connection.exec_driver_sql(f'PRAGMA table_info("{table}")') if r[5]]
    keys = [r[1] for r in sorted(info, key=lambda r: r[5])]
    return str(create), [str(sql) for sql in indexes], keys


def _columns(connection: Connection, table: str) -> list[str]:
    return [r[1] for r in connection.exec_driver_sql(f'PRAGMA table_info("{table}")')]
