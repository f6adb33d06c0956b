"""`intake credentials ...` and `intake api serve` as real processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
from click.testing import CliRunner

from cli.app import api_if_configured
from cli.config import Settings
from cli.main import main
from storage import Storage


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _intake(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)
    return result.exit_code, result.output


async def test_credentials_cli_and_served_api(tmp_path: Path, database_url: str) -> None:
    """A token printed once by `credentials add` works on `api serve`; after revoke it does not."""
    port = _free_port()
    env = {
        "INTAKE_DATA_DIR": str(tmp_path / "data"),
        "INTAKE_DATABASE_URL": database_url,
        "INTAKE_API_LISTEN": f"127.0.0.1:{port}",
    }
    code, output = await _intake(env, "credentials", "add", "--name", "rita", "--actor", "ada")
    assert code == 0, output
    token = next(line for line in output.splitlines() if line.startswith("ik_"))
    code, output = await _intake(env, "credentials", "add", "--name", "rita")
    assert code == 1 and "revoke it first" in output
    code, listed = await _intake(env, "credentials", "list")
    assert "rita\treviewer" in listed and token not in listed

    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "api", "serve",
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/me"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(url) as response:
                        assert response.status == 401
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            headers = {"Authorization": f"Bearer {token}"}
            async with http.get(url, headers=headers) as response:
                assert await response.json() == {"name": "rita", "role": "reviewer"}
            code, output = await _intake(env, "credentials", "revoke", "rita", "--actor", "ada")
            assert code == 0, output
            async with http.get(url, headers=headers) as response:
                assert response.status == 401
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 20)
    assert server.returncode == 0
    code, trail = await _intake(env, "audit", "show")
    assert "credential.add" in trail and "credential.revoke" in trail and token not in trail


async def test_listen_setting_is_checked(tmp_path: Path) -> None:
    """A malformed INTAKE_API_LISTEN stops the command with one line naming the fix."""
    env = {"INTAKE_DATA_DIR": str(tmp_path), "INTAKE_API_LISTEN": "everywhere"}
    code, output = await _intake(env, "credentials", "list")
    assert code == 1 and "INTAKE_API_LISTEN must be HOST:PORT" in output


async def test_serve_runs_the_api_only_when_configured(storage: Storage, tmp_path: Path) -> None:
    """`intake serve` adds the API beside the bot only when INTAKE_API_LISTEN is set."""
    quiet = Settings(data_dir=tmp_path)
    async with api_if_configured(quiet, storage) as nothing:
        assert nothing is None
    port = _free_port()
    loud = Settings(data_dir=tmp_path, api_listen=f"127.0.0.1:{port}")
    async with api_if_configured(loud, storage) as bound, aiohttp.ClientSession() as http:
        assert bound == port
        async with http.get(f"http://127.0.0.1:{port}/v1/reports") as response:
            assert response.status == 401


async def test_api_serve_binds_before_it_says_where(tmp_path: Path) -> None:
    """A busy port is one line naming the fix and no address; a free one is named once bound."""
    env = {"INTAKE_DATA_DIR": str(tmp_path / "data")}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        code, output = await _intake(
            {**env, "INTAKE_API_LISTEN": f"127.0.0.1:{taken}"}, "api", "serve"
        )
    assert code == 1
    assert "reviewer API on" not in output
    [line] = output.splitlines()
    assert line.startswith(f"Error: INTAKE_API_LISTEN: cannot listen on 127.0.0.1:{taken}")
    assert "a free HOST:PORT" in line

    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "api", "serve",
        env={**os.environ, **env, "INTAKE_API_LISTEN": f"127.0.0.1:{port}"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        first = await asyncio.wait_for(server.stdout.readline(), 30)
        assert first.decode().startswith(f"reviewer API on http://127.0.0.1:{port} ")
        # Printed only once listening: the very next connection is answered.
        async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/v1/me"
        ) as response:
            assert response.status == 401
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 20)
