"""Shared test helpers: strict-mode skips and throwaway PostgreSQL databases."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

STRICT = os.environ.get("INTAKE_TEST_STRICT") == "1"
PG_ENV = "INTAKE_TEST_DATABASE_URL"


def skip_or_fail(reason: str) -> None:
    """Skip with a clear reason; under INTAKE_TEST_STRICT=1 (CI) a missing dependency fails."""
    if STRICT:
        pytest.fail(f"{reason} (INTAKE_TEST_STRICT=1 forbids skipping)")
    pytest.skip(reason)


# One migrated PostgreSQL database (and one migrated SQLite file) per test session, built by
# the real migrations; each test gets a copy. Running every migration for each of ~1000 stores
# cost minutes of the suite; the migration tests themselves ask for an empty store.
_sqlite_template: Path | None = None
_postgres_supply: _PostgresSupply | None = None
# Copies made ahead of the tests that will take them: creating and dropping a database mostly
# waits on the disk, so a background thread does it while the tests run.
_MADE_AHEAD = 2


def _postgres_admin(base: str) -> str:
    """The DSN asyncpg connects with to create and drop databases."""
    return make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)


def _test_database_url(base: str, name: str) -> str:
    return make_url(base).set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False
    )


class _PostgresSupply:
    """Copies of the migrated template, made and dropped on a background thread."""

    def __init__(self, base: str, template: str) -> None:
        self._admin_dsn = _postgres_admin(base)
        self._template = template
        self._worker = ThreadPoolExecutor(max_workers=2, thread_name_prefix="postgres-supply")
        self._ready: deque[Future[str]] = deque()

    @classmethod
    async def build(cls, base: str) -> _PostgresSupply:
        from storage import Storage

        template = f"intake_template_{secrets.token_hex(6)}"
        await _admin_execute(_postgres_admin(base), f'CREATE DATABASE "{template}"')
        with tempfile.TemporaryDirectory() as blobs:
            store = await Storage.open(_test_database_url(base, template), Path(blobs))
            await store.close()
        return cls(base, template)

    async def take(self) -> str:
        while len(self._ready) <= _MADE_AHEAD:
            self._ready.append(self._worker.submit(self._copy))
        return await asyncio.wrap_future(self._ready.popleft())

    def give_back(self, name: str) -> None:
        self._worker.submit(self._drop, name)

    def close(self) -> None:
        for made in self._ready:
            self.give_back(made.result())
        self._worker.submit(self._drop, self._template)
        self._worker.shutdown(wait=True)

    def _copy(self) -> str:
        name = f"intake_test_{secrets.token_hex(6)}"
        statement = f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"'
        asyncio.run(_admin_execute(self._admin_dsn, statement))
        return name

    def _drop(self, name: str) -> None:
        statement = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        asyncio.run(_admin_execute(self._admin_dsn, statement))


async def migrated_sqlite_file(target: Path) -> None:
    """Put a copy of a store migrated to the head at `target` (the SQLite database file)."""
    global _sqlite_template
    if _sqlite_template is None:
        from storage import Storage, default_sqlite_url

        built = Path(tempfile.mkdtemp(prefix="intake-template-"))
        store = await Storage.open(default_sqlite_url(built), built / "blobs")
        await store.close()
        assert not (built / "intake.db-wal").exists(), "the template was not checkpointed"
        _sqlite_template = built / "intake.db"
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copyfile(_sqlite_template, target)


def drop_templates() -> None:
    """At the end of the session: drop the PostgreSQL copies made ahead and the template,
    remove the SQLite template."""
    if _sqlite_template is not None:
        shutil.rmtree(_sqlite_template.parent, ignore_errors=True)
    if _postgres_supply is not None:
        _postgres_supply.close()


async def _admin_execute(admin_dsn: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def fresh_postgres_database(*, migrated: bool = False) -> AsyncIterator[str]:
    """A PostgreSQL database for one test, dropped afterwards: empty, or (`migrated`) a copy of
    one brought to the newest schema by the real migrations this session."""
    global _postgres_supply
    base = os.environ.get(PG_ENV)
    if not base:
        skip_or_fail(f"{PG_ENV} is not set: PostgreSQL tests skipped")
        raise AssertionError("unreachable")
    if migrated:
        if _postgres_supply is None:
            _postgres_supply = await _PostgresSupply.build(base)
        name = await _postgres_supply.take()
        try:
            yield _test_database_url(base, name)
        finally:
            _postgres_supply.give_back(name)
        return
    admin_dsn = _postgres_admin(base)
    name = f"intake_test_{secrets.token_hex(6)}"
    await _admin_execute(admin_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield _test_database_url(base, name)
    finally:
        await _admin_execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def most_in_one_second(times: list[float]) -> int:
    """The most of `times` within any half-open window of one second."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most
