"""PostgreSQL refuses connections (too many clients): every update is retried until it gets
through, none is lost, and the log names the setting to change."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage.errors import refused_connection
from tests.bot.harness import replies, running_harness
from tests.support import PG_ENV, _admin_execute, _postgres_admin, fresh_postgres_database

WITNESSES = 12


@pytest.mark.slow  # a minute of retries under load
async def test_refused_connections_are_retried_and_named(tmp_path: Path) -> None:
    async with fresh_postgres_database() as url:
        admin = _postgres_admin(os.environ[PG_ENV])
        role = f"intake_limited_{secrets.token_hex(4)}"
        database = make_url(url).database
        # Four connections at most: the chat locks' one and three for transactions, while the
        # worker's pool would open five.
        await _admin_execute(admin, f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 4')
        try:
            await _admin_execute(admin, f'ALTER DATABASE "{database}" OWNER TO "{role}"')
            limited = make_url(url).set(username=role).render_as_string(hide_password=False)
            async with running_harness(limited, tmp_path / "data") as harness:
                users = [harness.user(750_001 + n) for n in range(WITNESSES)]
                await asyncio.gather(*(u.send_command("start") for u in users))
                answers = await asyncio.gather(*(replies(u, timeout=120) for u in users))
                logs = list(harness.logs.lines)
        finally:
            await _admin_execute(admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await _admin_execute(admin, f'DROP ROLE IF EXISTS "{role}"')
    assert all(answer for answer in answers)  # every witness was answered: nothing lost
    assert any("database.refused" in line and "INTAKE_DATABASE_CONNECTIONS" in line
               for line in logs), "\n".join(logs[-30:])
    assert not any("update.abandoned" in line for line in logs)


def test_a_refusal_is_recognised_through_sqlalchemys_wrapping() -> None:
    class Refused(Exception):
        sqlstate = "53300"

    class Wrapped(Exception):
        orig = Refused("sorry, too many clients already")

    assert refused_connection(Wrapped())
    assert not refused_connection(RuntimeError("a bug"))
