"""`intake review console` as a reviewer runs it: a real process, a real identity file."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
from click.testing import CliRunner

import crypto
from cli.main import main
from review.recipients import add_reviewer
from storage import Storage

REPOSITORY = Path(__file__).resolve().parents[2]
_URL = re.compile(rb"http://127\.0\.0\.1:\d+/\?key=[A-Za-z0-9_-]{43}")


async def _serve_once(
    arguments: list[str], environment: dict[str, str]
) -> tuple[str, bytes, bytes]:
    """Run the command, open its URL once, stop it with SIGTERM: (page, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", *arguments,
        cwd=REPOSITORY, env={**os.environ, **environment},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    page = ""
    try:
        printed = b""
        while not _URL.search(printed):
            line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
            assert line, "the console exited before printing its address"
            printed += line
        match = _URL.search(printed)
        assert match is not None
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as client, \
                client.get(match.group().decode()) as response:
            assert response.status == 200 and "key=" not in str(response.url)
            page = await response.text()
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()
    stdout = printed + stdout
    assert b"console stopped" in stdout
    found = _URL.search(stdout)
    assert found is not None
    assert found.group().split(b"key=")[1] not in stderr, "the secret must not reach any log"
    return page, stdout, stderr


async def test_the_command_serves_as_the_reviewer_the_key_belongs_to(
    database_url: str, tmp_path: Path
) -> None:
    """It prints one URL, names the registered reviewer, and stops cleanly on SIGTERM; with
    `intake review --as NAME` and an unregistered key it serves as NAME and says so."""
    data_dir = tmp_path / "data"
    identity = crypto.generate_identity()
    storage = await Storage.open(database_url, data_dir / "blobs")
    try:
        await add_reviewer(storage, "carol", str(identity.recipient))
    finally:
        await storage.close()
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"# a reviewer key\n{identity}\n")
    environment = {"INTAKE_DATA_DIR": str(data_dir), "INTAKE_DATABASE_URL": database_url}
    page, stdout, stderr = await _serve_once(
        ["review", "console", "-i", str(key_file)], environment
    )
    assert "as <strong>carol</strong>" in page and b"for carol" in stdout
    assert b"not an active reviewer key" not in stderr

    stranger = tmp_path / "stranger.txt"
    stranger.write_text(f"{crypto.generate_identity()}\n")
    page, stdout, stderr = await _serve_once(
        ["review", "--as", "dora", "console", "-i", str(stranger)], environment
    )
    assert "as <strong>dora</strong>" in page
    assert b"not an active reviewer key" in stderr


def test_a_wrong_passphrase_stops_before_anything_listens(tmp_path: Path) -> None:
    """A passphrase-protected identity is unlocked once; a wrong passphrase ends the command."""
    plain = f"{crypto.generate_identity()}\n".encode()
    sealed = tmp_path / "key.age"
    with sealed.open("wb") as out:
        passphrase = crypto.ScryptRecipient("right horse battery", work_factor=10)
        crypto.encrypt(io.BytesIO(plain), out, [passphrase])
    (tmp_path / "data").mkdir()
    result = CliRunner().invoke(
        main, ["review", "console", "-i", str(sealed)], input="wrong staple\n",
        env={"INTAKE_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.exit_code == 1
    assert "could not unlock" in result.output
    assert result.output.count("Passphrase") == 1
