"""`intake review ...` and the key commands as a reviewer meets them: arguments are checked
before the passphrase, report ids may be shortened, and a missing data directory is named."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import crypto
from cli.main import main
from storage import Storage
from storage.server_keys import load_or_create_server_keys
from tests.review.sealed_reports import sealed_report

# A file that looks passphrase-protected: the commands must not reach its prompt at all.
PROTECTED = b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3Yx\n"


def intake(args: list[str], env: dict[str, str | None]) -> Result:
    # No input: a passphrase prompt would read end-of-file and abort the command.
    return CliRunner().invoke(main, args, env=env, input="", catch_exceptions=False)


async def run(env: dict[str, str | None], *args: str) -> Result:
    return await asyncio.to_thread(intake, list(args), env)


def _env(data_dir: Path, database_url: str) -> dict[str, str | None]:
    return {"INTAKE_DATA_DIR": str(data_dir), "INTAKE_DATABASE_URL": database_url,
            "INTAKE_REVIEW_ACTOR": None, "INTAKE_REVIEW_TOKEN": None}


async def _reports(storage: Storage, data_dir: Path, *ids: str | None) -> list[str]:
    reviewer = crypto.generate_identity()
    custody = load_or_create_server_keys(data_dir).custody_key
    return [await sealed_report(storage, custody, [reviewer.recipient], report_id=report_id)
            for report_id in ids]


async def test_arguments_are_checked_before_the_passphrase(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    """A wrong id, an unknown report, a full folder or an existing key file costs no prompt."""
    data_dir = tmp_path / "data"
    env = _env(data_dir, database_url)
    [report_id] = await _reports(storage, data_dir, None)
    unknown = "1111" if not report_id.startswith("1111") else "2222"
    key = tmp_path / "key.age"
    key.write_bytes(PROTECTED)
    full = tmp_path / "full"
    full.mkdir()
    (full / "something").write_text("x")
    cases = [
        (["review", "show", "not-an-id", "--identity", str(key)], "hexadecimal"),
        (["review", "show", unknown, "--identity", str(key)], "no report starts with"),
        (["review", "show", "0" * 32, "--identity", str(key)], "no report " + "0" * 32),
        (["review", "notes", "xyz", "--identity", str(key)], "hexadecimal"),
        (["review", "export", report_id, "--out", str(full), "--identity", str(key),
          "--to", "counsel"],
         "is not empty"),
        (["keys", "new", "--out", str(key)], "already exists"),
        (["keys", "reencrypt", "--identity", str(key), "--key-id", "XYZ"], "16 lowercase"),
    ]
    for args, words in cases:
        result = await run(env, *args)
        assert result.exit_code == 1, (args, result.output)
        assert words in result.output, (args, result.output)
        assert "Passphrase" not in result.output, (args, result.output)


async def test_a_unique_prefix_names_a_report(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    """As in git, a unique prefix of a report id will do; an ambiguous one says so in a line."""
    data_dir = tmp_path / "data"
    env = _env(data_dir, database_url)
    first, second, third = await _reports(
        storage, data_dir, "abcd1" + "0" * 27, "abcd2" + "0" * 27, "ef01" + "0" * 28
    )
    result = await run(env, "review", "--as", "rita", "status", "abcd1", "closed")
    assert result.exit_code == 0, result.output
    assert result.output == f"{first} status closed\n"
    stored = await storage.reports.get(first)
    assert stored is not None and stored.summary.status == "closed"
    result = await run(env, "review", "--as", "rita", "claim", "ef01")
    assert result.output == f"{third} is assigned to rita\n"
    ambiguous = await run(env, "review", "status", "abcd", "closed")
    assert ambiguous.exit_code == 1
    assert ambiguous.output == (
        f"Error: abcd is ambiguous: it starts 2 reports ({first}, {second}); "
        "give more characters\n"
    )
    short = await run(env, "review", "claim", "abc")
    assert short.exit_code == 1 and "at least 4" in short.output
    second_report = await storage.reports.get(second)
    assert second_report is not None and second_report.summary.status == "new"


async def test_list_prints_a_header_row(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    """The queue listing starts with a header naming its columns."""
    data_dir = tmp_path / "data"
    [report_id] = await _reports(storage, data_dir, None)
    result = await run(_env(data_dir, database_url), "review", "list")
    assert result.exit_code == 0, result.output
    header, row = result.output.splitlines()
    assert header.split("\t") == [
        "ID", "RECEIVED", "STATUS", "PRIORITY", "ASSIGNEE", "ITEMS", "LABELS"
    ]
    assert row.split("\t")[:6] == [report_id, "2026-11-24", "new", "normal", "-", "1"]


@pytest.mark.parametrize("command", [
    ["review", "list"],
    ["review", "show", "abcd", "--identity", "KEY"],
    ["review", "console", "--identity", "KEY"],
    ["keys", "rewrap", "--identity", "KEY"],
    ["retention", "run"],
])
def test_reviewer_commands_refuse_a_missing_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Run where there is no data, a command names the fix and creates nothing."""
    key = tmp_path / "key.age"
    key.write_bytes(PROTECTED)
    monkeypatch.chdir(tmp_path)
    args = [str(key) if a == "KEY" else a for a in command]
    result = intake(args, {"INTAKE_DATA_DIR": None, "INTAKE_DATABASE_URL": None,
                           "INTAKE_RETENTION_DAYS": "closed=30"})
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: there is no data directory at intake-data: ")
    assert "INTAKE_DATA_DIR" in result.output
    assert ("--server" in result.output) == (command[0] == "review")
    assert "Passphrase" not in result.output
    assert not (tmp_path / "intake-data").exists()


def test_as_with_server_is_refused(tmp_path: Path) -> None:
    """With --server the server names who acts; --as there would be silently ignored."""
    result = intake(["review", "--server", "https://intake.example", "--as", "bob", "list"],
                    {"INTAKE_DATA_DIR": str(tmp_path), "INTAKE_REVIEW_TOKEN": "ik_x"})
    assert result.exit_code == 2, result.output
    assert "--as" in result.output and "--server" in result.output
    assert "credentials add" in result.output
