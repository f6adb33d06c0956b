"""Every way PostgreSQL refuses a start is one line naming the fix, against real servers.

No server, no role, no database and no permission are met on the test PostgreSQL
(INTAKE_TEST_DATABASE_URL); a wrong password needs a server that checks passwords, so one is
made for the test from the same binaries (initdb with scram-sha-256, on a free port).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.support import PG_ENV, _admin_execute, _postgres_admin, skip_or_fail

TOKEN = "424242:TEST-good-token-for-the-standin-abc"
PASSWORD = "correct-horse-" + secrets.token_hex(4)


def _base() -> str:
    base = os.environ.get(PG_ENV)
    if not base:
        skip_or_fail(f"{PG_ENV} is not set: PostgreSQL tests skipped")
        raise AssertionError("unreachable")
    return base


def _url(base: str, **parts: object) -> str:
    return make_url(base).set(drivername="postgresql", **parts).render_as_string(
        hide_password=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _serve_with(tmp_path: Path, database_url: str) -> tuple[int, list[str]]:
    """`intake serve` with this database URL: its exit code and standard error's lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env |= {"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_BOT_TOKEN": TOKEN,
            "INTAKE_DATABASE_URL": database_url,
            "INTAKE_TELEGRAM_API_URL": f"http://127.0.0.1:{_free_port()}"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "serve", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode().strip().splitlines()


async def _one_line(tmp_path: Path, database_url: str, *expected: str) -> str:
    code, lines = await _serve_with(tmp_path, database_url)
    assert code == 1, lines
    assert len(lines) == 1, lines
    line = lines[0]
    assert "INTAKE_DATABASE_URL" in line
    for part in expected:
        assert part in line, (part, line)
    assert PASSWORD not in line
    return line


async def test_no_server(tmp_path: Path) -> None:
    """Nothing listens on the URL's port: start the server or fix host and port."""
    base = _base()
    await _one_line(tmp_path, _url(base, host="127.0.0.1", port=_free_port()),
                    "no PostgreSQL server answers", "start it")


async def test_no_role(tmp_path: Path) -> None:
    """A role that does not exist: createuser, and where the README shows it."""
    role = f"intake_nobody_{secrets.token_hex(3)}"
    await _one_line(tmp_path, _url(_base(), username=role, password=None),
                    f"has no role '{role}'", f"createuser -P {role}", "deploy/README.md")


async def test_no_database(tmp_path: Path) -> None:
    """A database that does not exist: createdb with the role as owner."""
    name = f"intake_none_{secrets.token_hex(3)}"
    base = _base()
    user = make_url(base).username
    await _one_line(tmp_path, _url(base, database=name),
                    f"has no database '{name}'", f"createdb -O {user} {name}")


@contextlib.asynccontextmanager
async def _role_without_privileges(base: str) -> AsyncIterator[tuple[str, str]]:
    admin = _postgres_admin(base)
    role, database = f"intake_weak_{secrets.token_hex(3)}", f"intake_owned_{secrets.token_hex(3)}"
    await _admin_execute(admin, f'CREATE ROLE "{role}" LOGIN')
    await _admin_execute(admin, f'CREATE DATABASE "{database}"')  # owned by the admin
    try:
        yield role, database
    finally:
        await _admin_execute(admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await _admin_execute(admin, f'DROP ROLE IF EXISTS "{role}"')


async def test_no_permission(tmp_path: Path) -> None:
    """A role that may connect but not create the tables: make it the database's owner."""
    base = _base()
    async with _role_without_privileges(base) as (role, database):
        await _one_line(tmp_path, _url(base, username=role, password=None, database=database),
                        "permission denied", f"ALTER DATABASE {database} OWNER TO {role}")


@contextlib.contextmanager
def _password_checking_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster that checks passwords (scram-sha-256); yields its URL."""
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not binaries or os.geteuid() != 0 or shutil.which("runuser") is None:
        skip_or_fail("needs root, runuser and PostgreSQL's initdb to make a password-checking "
                     "server")
    bin_dir = binaries[-1].parent
    home = Path(tempfile.mkdtemp(prefix="intake-pg-"))
    shutil.chown(home, "postgres")
    (home / "password").write_text(PASSWORD)
    shutil.chown(home / "password", "postgres")
    port = _free_port()

    def run(*command: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True,
                       capture_output=True, timeout=120)

    try:
        run(str(bin_dir / "initdb"), "-D", str(home / "data"), "-U", "postgres",
            "-A", "scram-sha-256", f"--pwfile={home / 'password'}")
        run(str(bin_dir / "pg_ctl"), "-D", str(home / "data"), "-w", "-l", str(home / "log"),
            "-o", f"-p {port} -k {home} -c listen_addresses=127.0.0.1", "start")
        try:
            yield f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(home / "data"), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def test_wrong_password(tmp_path: Path) -> None:
    """A server that checks passwords, given the wrong one: set it, and the line never shows
    either password."""
    with _password_checking_server() as right:
        wrong = make_url(right).set(password="wrong-" + secrets.token_hex(4))
        line = await _one_line(tmp_path, wrong.render_as_string(hide_password=False),
                               "refused the password of role 'postgres'", "ALTER ROLE")
        assert "wrong-" not in line
        # The right password opens it: the refusal was about the password, not the server.
        code, lines = await _serve_with(tmp_path / "ok", right)
        assert "INTAKE_DATABASE_URL" not in "\n".join(lines)
        assert code != 0  # no reviewers registered there: the next check stops it
