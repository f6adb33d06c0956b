"""`intake channel set SLUG --bot-token-file PATH`: a channel's own bot, as an administrator
meets it. The token is read from a file that only its owner may read; the database, the
audit trail and the output hold its path, never the token."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import text

from cli.main import main
from storage import Storage
from storage.send_budget import bot_tag

TOKEN = "555666777:PARTNER-secret-part-of-the-token-xyz"


def _intake(args: list[str], env: dict[str, str | None]) -> Result:
    return CliRunner().invoke(main, args, env=env, input="", catch_exceptions=False)


async def run(env: dict[str, str | None], *args: str) -> Result:
    return await asyncio.to_thread(_intake, list(args), env)


def _secret_file(folder: Path, name: str, content: str, mode: int) -> Path:
    path = folder / name
    path.write_text(content + "\n")
    os.chmod(path, mode)
    return path


async def test_a_channel_gets_and_loses_its_own_bot(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    env: dict[str, str | None] = {
        "INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_DATABASE_URL": database_url,
    }
    assert (await run(env, "channel", "add", "river", "--name", "River")).exit_code == 0
    token = _secret_file(tmp_path, "river.token", TOKEN, 0o600)
    secret = _secret_file(tmp_path, "river.secret", "s" * 40, 0o600)
    given = await run(env, "channel", "set", "river", "--bot-token-file", str(token),
                      "--webhook-secret-file", str(secret), "--actor", "ops")
    assert given.exit_code == 0, given.output
    assert f"/telegram/{bot_tag(555666777)}" in given.output
    record = await storage.channels.get("river")
    assert record is not None
    assert (record.bot_token_file, record.webhook_secret_file) == (str(token), str(secret))
    shown = (await run(env, "channel", "show", "river")).output
    assert f"token file {token}" in shown
    assert f"webhook path /telegram/{bot_tag(555666777)}" in shown
    assert "river\tlink-only\town-bot\t" in (await run(env, "channel", "list")).output
    entries = [json.loads(e.entry) for e in await storage.audit.entries()]
    [change] = [e for e in entries if e["action"] == "channel.set"]
    assert str(token) in json.dumps(change)
    # The token is nowhere: not in the output, the audit trail or any table.
    hidden = TOKEN.split(":", 1)[1]
    assert hidden not in given.output + shown
    assert all(hidden not in json.dumps(e) for e in entries)
    async with storage.engine.connect() as connection:
        for table in ("channels", "audit_log"):
            rows = (await connection.execute(text(f"SELECT * FROM {table}"))).all()
            assert hidden not in repr(rows)

    reset = await run(env, "channel", "set", "river", "--reset", "bot")
    assert reset.exit_code == 0, reset.output
    record = await storage.channels.get("river")
    assert record is not None and record.bot_token_file is None
    assert record.webhook_secret_file is None
    assert "bot: the deployment's" in (await run(env, "channel", "show", "river")).output
    assert "river\tlink-only\tdeployment-bot\t" in (await run(env, "channel", "list")).output


async def test_bot_file_mistakes_are_one_line(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    """A token file others may read, a missing one, one without a token, a short webhook
    secret, a bot for `default`, a secret without a bot: one line naming the fix, nothing
    changed."""
    env: dict[str, str | None] = {
        "INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_DATABASE_URL": database_url,
    }
    assert (await run(env, "channel", "add", "river", "--name", "River")).exit_code == 0
    readable = _secret_file(tmp_path, "open.token", TOKEN, 0o644)
    good = _secret_file(tmp_path, "good.token", TOKEN, 0o600)
    junk = _secret_file(tmp_path, "junk.token", "not a token", 0o600)
    short = _secret_file(tmp_path, "short.secret", "abc", 0o600)
    cases = [
        (["--bot-token-file", str(readable)], f"chmod 600 {readable}"),
        (["--bot-token-file", str(tmp_path / "missing")], "does not exist"),
        (["--bot-token-file", str(junk)], "copy the token from @BotFather"),
        (["--bot-token-file", str(good), "--webhook-secret-file", str(short)],
         "openssl rand -hex 32"),
        (["--webhook-secret-file", str(good)], "32 to 256"),
    ]
    for options, fix in cases:
        result = await run(env, "channel", "set", "river", *options)
        assert result.exit_code == 1, (options, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert fix in result.output, result.output
        assert TOKEN.split(":", 1)[1] not in result.output
    secret = _secret_file(tmp_path, "ok.secret", "s" * 40, 0o600)
    lonely = await run(env, "channel", "set", "river", "--webhook-secret-file", str(secret))
    assert lonely.exit_code == 1 and "--bot-token-file as well" in lonely.output
    default = await run(env, "channel", "set", "default", "--bot-token-file", str(good))
    assert default.exit_code == 1 and "INTAKE_BOT_TOKEN" in default.output
    both = await run(env, "channel", "set", "river", "--bot-token-file", str(good),
                     "--reset", "bot")
    assert both.exit_code == 1 and "--reset bot and a new value" in both.output, both.output
    record = await storage.channels.get("river")
    assert record is not None and record.bot_token_file is None


async def test_serve_with_a_channel_bot_keeps_its_token_out_of_the_log(tmp_path: Path) -> None:
    """`intake serve` (a real process, INTAKE_LOG_LEVEL=DEBUG) with a channel whose token the
    Bot API refuses: the deployment's bot answers, the refusal is logged once per round
    naming the fix, and the channel's token is in no line of the log."""
    import signal
    import sys

    import crypto
    from standin.server import BotApiStandIn
    from tests.bot.harness import replies

    main_token = "424242:TEST-good-token-for-the-standin-abc"
    env = {**os.environ, "INTAKE_DATA_DIR": str(tmp_path / "data"),
           "INTAKE_BOT_TOKEN": main_token, "INTAKE_LOG_LEVEL": "DEBUG"}
    token = _secret_file(tmp_path, "river.token", TOKEN, 0o600)

    async def intake(*args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    async with BotApiStandIn(main_token) as standin:
        env["INTAKE_TELEGRAM_API_URL"] = standin.root_url
        for args in (["reviewer", "add", "--name", "a", "--recipient",
                      str(crypto.generate_identity().recipient)],
                     ["channel", "add", "river", "--name", "River", "--bot-token-file",
                      str(token)]):
            assert await (await intake(*args)).wait() == 0
        process = await intake("serve")
        witness = standin.user(9100003, "W")
        await witness.send_command("start", "river")  # not this bot's channel any more
        notice, _first = await replies(witness, 2, timeout=30)
        assert "does not lead to an organisation this bot knows" in notice
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        _out, err = await process.communicate()
    log = err.decode()
    assert "bot.start_failed" in log and "intake channel show" in log
    hidden = TOKEN.split(":", 1)[1]
    assert all(hidden[n:n + 8] not in log for n in range(len(hidden) - 7))
