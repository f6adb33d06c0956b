"""Shared test helpers: strict-mode skips and throwaway PostgreSQL databases."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

STRICT = os.environ.get("INTAKE_TEST_STRICT") == "1"
PG_ENV = "INTAKE_TEST_DATABASE_URL"


def skip_or_fail(reason: str) -> None:
    """Skip with a clear reason; under INTAKE_TEST_STRICT=1 (CI) a missing dependency fails."""
    if STRICT:
        pytest.fail(f"{reason} (INTAKE_TEST_STRICT=1 forbids skipping)")
    pytest.skip(reason)


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """Create an empty PostgreSQL database for one test and drop it afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        skip_or_fail(f"{PG_ENV} is not set: PostgreSQL tests skipped")
        raise AssertionError("unreachable")
    import asyncpg

    url = make_url(base)
    name = f"intake_test_{secrets.token_hex(6)}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
