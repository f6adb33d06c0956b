"""`intake serve` as a real process against the Bot API stand-in."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import crypto
from standin.server import BotApiStandIn
from tests.bot.harness import button, replies

GOOD = "424242:TEST-good-token-for-the-standin-abc"
WRONG = "424242:TEST-wrong-token-never-accepted-xyz"


async def _intake(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _add_a_reviewer(env: dict[str, str]) -> None:
    """`intake reviewer add` (which also makes the store), as an administrator does first."""
    identity = crypto.generate_identity()
    added = await _intake(env, "reviewer", "add", "--name", "a",
                          "--recipient", str(identity.recipient))
    assert await added.wait() == 0


async def test_serve_takes_a_report_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The real command polls the stand-in, answers /start, and exits 0 soon after SIGTERM."""
    env = {"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_BOT_TOKEN": GOOD}
    async with BotApiStandIn(GOOD) as standin:
        env["INTAKE_TELEGRAM_API_URL"] = standin.root_url
        await _add_a_reviewer(env)
        process = await _intake(env, "serve")
        witness = standin.user(9100001, "W")
        await witness.send_command("start")
        assert "is it safe" in (await replies(witness, timeout=30))[0]
        await witness.press(button(witness, "No, stop"))
        await replies(witness)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
        _out, err = await process.communicate()
    assert code == 0
    assert GOOD.split(":")[1] not in err.decode()


async def test_idle_polling_bot_holds_no_library_it_does_not_use_yet(tmp_path: Path) -> None:
    """A polling bot on SQLite that has answered /start has not loaded Pillow (images only),
    aiohttp's server (webhook, reviewer API; its client makes the Bot API calls),
    rfc3161-client, Alembic (the schema is current), the reviewer's charts and hashes, nor the
    PostgreSQL dialect: each would be resident memory of every idle bot
    (bench/drafts_memory.py)."""
    env = {"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_BOT_TOKEN": GOOD}
    async with BotApiStandIn(GOOD) as standin:
        env["INTAKE_TELEGRAM_API_URL"] = standin.root_url
        await _add_a_reviewer(env)
        # -X importtime writes one line per module imported, on standard error, as it loads.
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-X", "importtime", "-m", "cli.main", "serve",
            env={**os.environ, **env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        witness = standin.user(9100002, "W")
        await witness.send_command("start")
        assert "is it safe" in (await replies(witness, timeout=30))[0]
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        _out, err = await process.communicate()
    loaded = {line.split("|")[-1].strip() for line in err.decode().splitlines()
              if line.startswith("import time:")}
    assert {"telegram", "sqlalchemy.dialects.sqlite", "bot.telegram.runtime",
            "aiohttp.client"} <= loaded
    unwanted = {m for m in loaded if m.split(".")[0] in {
        "PIL", "rfc3161_client", "alembic", "matplotlib", "numpy", "imagehash", "jinja2"}
        or m.startswith(("sqlalchemy.dialects.postgresql", "aiohttp.web"))}
    assert not unwanted, sorted(unwanted)


async def test_wrong_token_stops_with_one_line_and_no_token(tmp_path: Path) -> None:
    """A token the server refuses ends start-up with one line naming the fix, never the token."""
    env = {"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_BOT_TOKEN": WRONG}
    async with BotApiStandIn(GOOD) as standin:
        env["INTAKE_TELEGRAM_API_URL"] = standin.root_url
        await _add_a_reviewer(env)
        process = await _intake(env, "serve")
        _out, err = await asyncio.wait_for(process.communicate(), 60)
    text = err.decode()
    assert process.returncode == 1
    assert "INTAKE_BOT_TOKEN was refused" in text
    assert WRONG.split(":")[1] not in text


async def test_missing_settings_name_the_fix(tmp_path: Path) -> None:
    """No token, a bad URL, or no reviewers: each stops with one line naming the fix."""
    base = {"INTAKE_DATA_DIR": str(tmp_path / "data")}
    cases = [
        ({}, "INTAKE_BOT_TOKEN is not set"),
        ({"INTAKE_BOT_TOKEN": "nonsense"}, "does not look like a bot token"),
        ({"INTAKE_BOT_TOKEN": GOOD, "INTAKE_TELEGRAM_API_URL": "ftp://x"}, "http(s) URL"),
        ({"INTAKE_BOT_TOKEN": GOOD}, "intake reviewer add"),
    ]
    for extra, expected in cases:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "serve", env={**env, **base, **extra},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _out, err = await process.communicate()
        assert process.returncode != 0, expected
        assert expected in err.decode(), (expected, err.decode())
        assert len(err.decode().strip().splitlines()) == 1


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_unreachable_bot_api_is_named_and_retried(tmp_path: Path) -> None:
    """No Bot API at start-up: one line names the URL and what to check, the bot keeps trying
    instead of crashing, and serves as soon as the API is reachable."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_BOT_TOKEN": GOOD,
           "INTAKE_TELEGRAM_API_URL": url}
    await _add_a_reviewer(env)
    process = await _intake(env, "serve")
    assert process.stderr is not None
    line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
    assert "bot.api_unreachable" in line and url in line and "INTAKE_TELEGRAM_API_URL" in line
    assert process.returncode is None  # still running, retrying
    async with BotApiStandIn(GOOD, port=port) as standin:
        witness = standin.user(9100002, "W")
        await witness.send_command("start")
        assert "is it safe" in (await replies(witness, timeout=60))[0]
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
        rest = (await process.stderr.read()).decode()
    assert code == 0
    assert GOOD.split(":")[1] not in line + rest
