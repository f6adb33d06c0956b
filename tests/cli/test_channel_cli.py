"""`intake channel ...` as an administrator meets it: make, list, show, change, reset; every
mistake gets one line naming the fix; reviewers and recovery keys are registered per channel."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from click.testing import CliRunner, Result

import crypto
from bot.core.questionnaire import DEFAULT_QUESTIONNAIRE
from cli.main import main
from storage import Storage


def _intake(args: list[str], env: dict[str, str | None]) -> Result:
    return CliRunner().invoke(main, args, env=env, input="", catch_exceptions=False)


async def run(env: dict[str, str | None], *args: str) -> Result:
    return await asyncio.to_thread(_intake, list(args), env)


async def test_channel_commands(storage: Storage, database_url: str, tmp_path: Path) -> None:
    """An administrator makes a partner channel with its own questionnaire and languages, gives
    it a reviewer and a recovery key, lists, shows, changes and resets it."""
    env: dict[str, str | None] = {
        "INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_DATABASE_URL": database_url,
    }
    made = await run(env, "channel", "add", "kyiv-ngo", "--name", "Kyiv NGO",
                     "--questionnaire", str(DEFAULT_QUESTIONNAIRE), "--languages", "uk,en",
                     "--retention", "closed=30", "--actor", "ops")
    assert made.exit_code == 0, made.output
    assert "https://t.me/<bot>?start=kyiv-ngo" in made.output
    listed = await run(env, "channel", "list")
    assert listed.output.splitlines() == [
        "default\tlink-only\tdeployment-bot\tDefault",
        "kyiv-ngo\tlink-only\tdeployment-bot\tKyiv NGO",
    ]
    reviewer = str(crypto.generate_identity().recipient)
    recovery = str(crypto.generate_identity().recipient)
    added = await run(env, "reviewer", "add", "--channel", "kyiv-ngo", "--name", "olena",
                      "--recipient", reviewer, "--actor", "ops")
    assert added.exit_code == 0 and "channel kyiv-ngo" in added.output, added.output
    vault = await run(env, "keys", "recovery", "--channel", "kyiv-ngo", "--recipient", recovery,
                      "--actor", "ops")
    assert vault.exit_code == 0, vault.output
    shown = (await run(env, "channel", "show", "kyiv-ngo")).output
    assert "languages: uk,en" in shown and "retention: closed=30" in shown
    assert f"questionnaire: {DEFAULT_QUESTIONNAIRE}" in shown
    assert "recipient: olena\treviewer" in shown and "\trecovery\t" in shown
    assert [r.name for r in await storage.recipients.active("default")] == []
    changed = await run(env, "channel", "set", "kyiv-ngo", "--public", "--reset", "languages",
                        "--actor", "ops")
    assert changed.exit_code == 0, changed.output
    record = await storage.channels.get("kyiv-ngo")
    assert record is not None and record.public and record.languages is None
    assert record.retention_days == "closed=30"
    actions = [json.loads(e.entry)["action"] for e in await storage.audit.entries()]
    assert actions.count("channel.add") == 1 and actions.count("channel.set") == 1


async def test_channel_mistakes_are_one_line(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    """Bad slugs, languages, retention, questionnaires and unknown channels name the fix, and
    nothing is made."""
    env: dict[str, str | None] = {
        "INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_DATABASE_URL": database_url,
    }
    broken = tmp_path / "broken.toml"
    broken.write_text("not = [toml")
    reviewer = str(crypto.generate_identity().recipient)
    english = tmp_path / "english.toml"
    english.write_text(re.sub(r"^languages = \[.*\]$", 'languages = ["en"]',
                              DEFAULT_QUESTIONNAIRE.read_text(encoding="utf-8"), flags=re.M))
    cases = [
        # Languages its questionnaire does not have: the bot would refuse to start.
        (["channel", "add", "ok", "--name", "x", "--questionnaire", str(english), "--languages",
          "uk"], "has only en"),
        (["channel", "set", "default", "--questionnaire", str(english), "--languages", "uk,ru"],
         "has only en"),
        (["channel", "add", "Bad Slug", "--name", "x"], "lower-case letters"),
        (["channel", "add", "ok", "--name", "x", "--languages", "de"], "not de"),
        (["channel", "add", "ok", "--name", "x", "--retention", "forever"], "STATUS=DAYS"),
        (["channel", "add", "ok", "--name", "x", "--questionnaire", str(broken)], "broken.toml"),
        (["channel", "show", "nowhere"], "intake channel list"),
        (["channel", "set", "nowhere", "--public"], "intake channel list"),
        (["channel", "set", "default"], "nothing to change"),
        (["reviewer", "add", "--channel", "nowhere", "--name", "x", "--recipient", reviewer],
         "intake channel list"),
    ]
    for args, expected in cases:
        result = await run(env, *args, *(["--actor", "ops"] if args[1] in ("add", "set") else []))
        assert result.exit_code != 0, args
        assert expected in result.output, (args, result.output)
        # A questionnaire's problems are listed one a line, as for INTAKE_QUESTIONNAIRE.
        if "--questionnaire" not in args:
            assert len(result.output.strip().splitlines()) == 1, result.output
    assert [c.slug for c in await storage.channels.all()] == ["default"]
