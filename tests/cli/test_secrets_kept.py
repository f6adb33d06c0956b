"""Secrets kept secret on disk: key files others can read are refused at start, as ssh does,
and everything the server stores is created 0600 in 0700 folders whatever the umask."""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import sys
from pathlib import Path

import pytest

import crypto
from storage.blobs import BlobStore

GOOD = "424242:TEST-good-token-for-the-standin-abc"


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    return {**base, "INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_BOT_TOKEN": GOOD,
            "INTAKE_TELEGRAM_API_URL": "http://127.0.0.1:9", **more}


async def _intake(env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    """Run `intake ARGS` under the usual umask 022; exit code and standard error's lines."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import os, sys; os.umask(0o022); from cli.main import main; "
        "sys.argv[0] = 'intake'; main()", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode().strip().splitlines()


async def _add_a_reviewer(env: dict[str, str]) -> None:
    identity = crypto.generate_identity()
    code, lines = await _intake(env, "reviewer", "add", "--name", "a",
                                "--recipient", str(identity.recipient))
    assert code == 0, lines


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_fresh_store_is_private_under_umask_022(tmp_path: Path) -> None:
    """The first command makes the SQLite database (and its -wal, -shm), the key folder and
    the keys 0600 / 0700, though the umask would give 0644 / 0755."""
    env = _env(tmp_path)
    await _add_a_reviewer(env)
    data = tmp_path / "data"
    assert _mode(data) == 0o700
    assert _mode(data / "intake.db") == 0o600
    for leftover in ("intake.db-wal", "intake.db-shm"):
        if (data / leftover).exists():
            assert _mode(data / leftover) == 0o600
    code, lines = await _intake(env, "audit", "verify")
    assert code == 0, lines  # any command that loads the keys
    assert _mode(data / "keys") == 0o700
    for key in (data / "keys").iterdir():
        assert _mode(key) == 0o600, key


async def test_a_database_an_older_version_made_0644_is_made_private(tmp_path: Path) -> None:
    """An intake.db left 0644 by an earlier version is 0600 after the next command."""
    env = _env(tmp_path)
    await _add_a_reviewer(env)
    database = tmp_path / "data" / "intake.db"
    database.chmod(0o644)
    code, lines = await _intake(env, "reviewer", "list")
    assert code == 0, lines
    assert _mode(database) == 0o600


@pytest.mark.parametrize("key", ["server.key", "custody.key"])
async def test_serve_refuses_a_key_file_others_can_read(tmp_path: Path, key: str) -> None:
    """A server key readable by group or others stops `intake serve` with one line naming
    chmod 600, before anything is served."""
    env = _env(tmp_path)
    await _add_a_reviewer(env)
    code, lines = await _intake(env, "audit", "verify")  # makes the keys
    assert code == 0, lines
    (tmp_path / "data" / "keys" / key).chmod(0o644)
    code, lines = await _intake(env, "serve")
    assert code == 1
    assert len(lines) == 1, lines
    assert "open to group or others (mode 0644)" in lines[0]
    assert f"chmod 600 {tmp_path / 'data' / 'keys' / key}" in lines[0]


async def test_webhook_refuses_a_secret_file_others_can_read(tmp_path: Path) -> None:
    """The webhook's shared secret, readable by others: one line, INTAKE_WEBHOOK_SECRET_FILE."""
    secret = tmp_path / "webhook.secret"
    secret.write_text(secrets.token_hex(32))
    secret.chmod(0o640)
    env = _env(tmp_path, INTAKE_WEBHOOK_SECRET_FILE=str(secret))
    await _add_a_reviewer(env)
    code, lines = await _intake(env, "serve", "--webhook")
    assert code == 1
    assert lines == [f"Error: INTAKE_WEBHOOK_SECRET_FILE: the webhook secret file {secret} is "
                     f"open to group or others (mode 0640): run `chmod 600 {secret}` and check "
                     "who could have copied it"]


def test_payload_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """A sealed payload (and its temporary file while written) is 0600 under umask 022."""
    previous = os.umask(0o022)
    try:
        store = BlobStore(tmp_path / "blobs")
        name = secrets.token_hex(16)
        writer = store.create(name)
        writer.write(b"ciphertext")
        temporaries = list((tmp_path / "blobs").glob("*/.tmp-*"))
        assert [_mode(t) for t in temporaries] == [0o600]
        writer.commit()
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "blobs") == 0o700
    assert _mode(tmp_path / "blobs" / name[:2]) == 0o700
    assert _mode(tmp_path / "blobs" / name[:2] / name) == 0o600
