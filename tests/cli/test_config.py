"""Every setting's wrong value stops start-up with one line naming the variable and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main

WRONG = [
    ("INTAKE_MAX_FILE_MB", "abc", "a whole number from 1 to 2000"),
    ("INTAKE_MAX_FILE_MB", "0", "a whole number from 1 to 2000"),
    ("INTAKE_MAX_FILE_MB", "2.5", "a whole number from 1 to 2000"),
    ("INTAKE_DRAFT_TTL_MINUTES", "soon", "a whole number from 1 to 10080"),
    ("INTAKE_DRAFT_TTL_MINUTES", "99999", "a whole number from 1 to 10080"),
    ("INTAKE_NOTIFY_INTERVAL_MINUTES", "-3", "a whole number from 1 to 1440"),
    ("INTAKE_REVIEWERS_CHAT_ID", "the team", "a Telegram chat id"),
    ("INTAKE_DELETE_AFTER_SUBMIT", "maybe", "true or false"),
    ("INTAKE_WITNESS_MAY_DELETE", "perhaps", "true or false"),
    ("INTAKE_LOG_LEVEL", "loud", "one of DEBUG, INFO, WARNING, ERROR"),
    ("INTAKE_TELEGRAM_API_URL", "ftp://x", "an http(s) URL"),
    ("INTAKE_DATABASE_URL", "mysql://x", "must start with postgresql://"),
    ("INTAKE_API_LISTEN", "everywhere", "HOST:PORT"),
    ("INTAKE_RETENTION_DAYS", "closed=soon", "STATUS=DAYS"),
    ("INTAKE_REVIEWER_LANGUAGE", "klingon", "one of en, uk, ru, ar, es, fr"),
]


@pytest.mark.parametrize(("variable", "value", "words"), WRONG)
def test_a_wrong_value_is_one_line_naming_the_variable_and_the_fix(
    tmp_path: Path, variable: str, value: str, words: str
) -> None:
    """No pydantic wording, no link, no traceback: the variable, what it must be, the fix."""
    result = CliRunner().invoke(
        main, ["reviewer", "list"], env={"INTAKE_DATA_DIR": str(tmp_path), variable: value}
    )
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith(f"Error: {variable} "), line
    assert words in line, line
    for leak in ("Input should", "pydantic", "errors.pydantic.dev", "Value error"):
        assert leak not in line, line


def test_a_wrong_value_in_the_config_file_names_it_too(tmp_path: Path) -> None:
    """The same one line when the value comes from a --config file."""
    config = tmp_path / "intake.env"
    config.write_text("INTAKE_MAX_FILE_MB=abc\n")
    result = CliRunner().invoke(
        main, ["--config", str(config), "reviewer", "list"],
        env={"INTAKE_DATA_DIR": str(tmp_path), "INTAKE_MAX_FILE_MB": None},
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: INTAKE_MAX_FILE_MB must be a whole number from 1")
