"""Commands start at once: each imports only what it needs, and reads no migrations needlessly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click

from cli.lazy import LazyGroup
from cli.main import main

_HEAVY = ("telegram", "aiohttp", "alembic", "sqlalchemy", "pydantic")

_PROBE = """
import json, sys
import cli.main
if len(sys.argv) > 1:
    try:
        cli.main.main(sys.argv[1:], standalone_mode=False)
    except SystemExit:
        pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _modules_after(tmp_path: Path, *args: str, whole_names: bool = False) -> set[str]:
    """Top-level modules (every module, with `whole_names`) loaded by a fresh interpreter after
    `import cli.main` and the command."""
    probe = _PROBE
    if whole_names:
        probe = probe.replace('m.split(".")[0] for m in sys.modules', "m for m in sys.modules")
    env = {**os.environ, "INTAKE_DATA_DIR": str(tmp_path / "data")}
    env.pop("INTAKE_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env,
        check=True, timeout=120,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library(tmp_path: Path) -> None:
    """`import cli.main` (all that `intake --help` needs) imports none of python-telegram-bot,
    aiohttp, alembic, SQLAlchemy or pydantic."""
    loaded = _modules_after(tmp_path)
    assert not loaded & set(_HEAVY), loaded & set(_HEAVY)
    assert "cli" in loaded


def test_help_lists_every_command_without_importing_them(tmp_path: Path) -> None:
    """`intake --help` lists every command group and still imports none of the heavy ones."""
    loaded = _modules_after(tmp_path, "--help")
    assert not loaded & set(_HEAVY)


def test_review_list_on_a_current_schema_skips_alembic(tmp_path: Path) -> None:
    """The first command creates the schema (Alembic; reviewer commands refuse a missing data
    directory, so an administrator's command makes it); `review list` then finds the schema
    current with one query and imports neither Alembic nor the bot's or the API's libraries,
    nor pydantic (the settings are msgspec's)."""
    first = _modules_after(tmp_path, "reviewer", "list")
    assert "alembic" in first
    again = _modules_after(tmp_path, "review", "list")
    assert not again & {"alembic", "telegram", "aiohttp", "pydantic"}, again
    assert "sqlalchemy" in again


def test_lazy_help_texts_are_the_commands_own() -> None:
    """The one-line help shown for a command not yet imported is its docstring's first line."""
    groups: list[click.Group] = [main]
    context = click.Context(main)
    review = main.get_command(context, "review")
    assert isinstance(review, click.Group)
    groups.append(review)
    for group in groups:
        assert isinstance(group, LazyGroup)
        for name, (_target, summary) in group.lazy.items():
            command = group.get_command(context, name)
            assert command is not None and command.help is not None
            first = " ".join(command.help.split("\n\n")[0].split())
            assert first == summary, name


def test_review_list_imports_neither_the_questionnaire_nor_the_export_code(tmp_path: Path) -> None:
    """`review list` shows no answers: the questionnaire (bot/), the statistics and the export
    code are imported only by the commands that decrypt and show."""
    _modules_after(tmp_path, "reviewer", "list")  # makes the store
    loaded = _modules_after(tmp_path, "review", "list", whole_names=True)
    unwanted = {m for m in loaded if m.split(".")[0] == "bot"
                or m.startswith(("review.monitoring", "review.export", "review.render"))}
    assert not unwanted, unwanted
    assert "storage.queue" in loaded


def test_review_list_loads_only_the_repositories_it_reads(tmp_path: Path) -> None:
    """On SQLite, `review list` loads the queue's repository, not the bot's conversations, the
    evidence or payload-table code, the PostgreSQL dialect or Pillow (storage/database.py opens
    each repository's module on first use)."""
    _modules_after(tmp_path, "reviewer", "list")  # makes the store
    loaded = _modules_after(tmp_path, "review", "list", whole_names=True)
    unwanted = {"storage.conversations", "storage.evidence", "storage.payload_table",
                "storage.additions", "sqlalchemy.dialects.postgresql", "PIL"} & loaded
    assert not unwanted, unwanted
    assert {"storage.queue", "sqlalchemy.dialects.sqlite"} <= loaded
