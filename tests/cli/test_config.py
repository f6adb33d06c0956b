"""Every setting's wrong value stops start-up with one line naming the variable and the fix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.config import ConfigError, Settings, load_settings
from cli.main import main

WRONG = [
    ("INTAKE_MAX_FILE_MB", "abc", "a whole number from 1 to 2000"),
    ("INTAKE_MAX_FILE_MB", "0", "a whole number from 1 to 2000"),
    ("INTAKE_MAX_FILE_MB", "2.5", "a whole number from 1 to 2000"),
    ("INTAKE_DRAFT_TTL_MINUTES", "soon", "a whole number from 1 to 10080"),
    ("INTAKE_DRAFT_TTL_MINUTES", "99999", "a whole number from 1 to 10080"),
    ("INTAKE_NOTIFY_INTERVAL_MINUTES", "-3", "a whole number from 1 to 1440"),
    ("INTAKE_BOT_API_CONNECTIONS", "0", "a whole number from 1 to 256"),
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
    """No library's wording, no traceback: the variable, what it must be, the fix."""
    result = CliRunner().invoke(
        main, ["reviewer", "list"], env={"INTAKE_DATA_DIR": str(tmp_path), variable: value}
    )
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith(f"Error: {variable} "), line
    assert words in line, line
    for leak in ("Expected `", "msgspec", "$.", "Value error", "Traceback"):
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


def test_the_environment_wins_over_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values come from the file unless the environment sets the same variable; INTAKE_* names
    read elsewhere (INTAKE_CONFIG itself), other programs' names and comments are ignored."""
    config = tmp_path / "intake.env"
    config.write_text(
        "# a comment\nINTAKE_MAX_FILE_MB=50\nINTAKE_LOG_LEVEL=debug\nINTAKE_CONFIG=x\n"
        "INTAKE_DRAFTS=ephemeral\nPOSTGRES_PASSWORD=abc\n"
    )
    monkeypatch.setenv("INTAKE_LOG_LEVEL", "warning")
    for name in ("INTAKE_DRAFTS", "INTAKE_MAX_FILE_MB", "INTAKE_DRAFT_TTL_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(config)
    assert (settings.max_file_mb, settings.log_level) == (50, "WARNING")
    assert settings.drafts == "ephemeral"
    assert settings.draft_ttl_minutes == 60


def test_settings_made_in_code_are_converted_and_checked_like_the_environment() -> None:
    """Text or typed values give the same settings; a wrong one is the same one line."""
    assert Settings(max_file_mb="7", delete_after_submit="false") == Settings(
        max_file_mb=7, delete_after_submit=False
    )
    assert Settings(data_dir="/srv/x").data_dir == Path("/srv/x")
    assert Settings(database_url="postgres://u@h/db").database_url == "postgresql+asyncpg://u@h/db"
    with pytest.raises(ConfigError, match=r"^INTAKE_MAX_FILE_MB must be a whole number from 1 to "
                                          r"2000 \(not '0'\): fix it, or unset it for the default"):
        Settings(max_file_mb=0)


def test_an_empty_optional_setting_is_an_unset_one() -> None:
    """`INTAKE_REVIEWERS_CHAT_ID=` (a compose file's empty line) means no chat, not an error."""
    settings = Settings(reviewers_chat_id="", questionnaire=" ", api_listen="", webhook_url="")
    assert (settings.reviewers_chat_id, settings.questionnaire, settings.api_listen,
            settings.webhook_url) == (None, None, None, None)


def test_the_bot_token_is_never_in_the_settings_repr() -> None:
    """A traceback or a debug print of the settings must not carry the token."""
    token = "123456:" + "A" * 30
    settings = Settings(bot_token=token)
    assert settings.token() == token
    assert token not in repr(settings) and "123456" not in repr(settings)


@pytest.mark.parametrize(("spelled", "meant"), [
    ("yes", True), ("On", True), ("t", True), ("1", True), ("TRUE", True),
    ("no", False), ("OFF", False), ("f", False), ("0", False), (" false ", False),
])
def test_the_spellings_of_true_and_false_operators_used_before_still_work(
    spelled: str, meant: bool
) -> None:
    """pydantic-settings read yes/no/on/off too; a file written for it must still start."""
    assert Settings(delete_after_submit=spelled).delete_after_submit is meant


def test_whole_numbers_as_python_writes_them() -> None:
    """A sign or digit groups are whole numbers too; the bounds still apply."""
    assert Settings(max_file_mb="+5", reviewers_chat_id="-1_001").max_file_mb == 5
    assert Settings(max_file_mb="1_000").max_file_mb == 1000
    with pytest.raises(ConfigError, match=r"^INTAKE_MAX_FILE_MB must be a whole number"):
        Settings(max_file_mb="+0")


def test_a_value_of_the_wrong_kind_from_code_is_a_config_error_too() -> None:
    """Not a bare exception from the conversion library."""
    with pytest.raises(ConfigError, match=r"^INTAKE_DATA_DIR must be a valid value"):
        Settings(data_dir=5)  # type: ignore[arg-type]


def test_every_default_passes_its_own_checks() -> None:
    """Settings skips the checks for a value that is the default: each default must pass."""
    from cli import config

    for field in dataclasses.fields(Settings):
        assert config._checked(field.name, field.default) == field.default, field.name


MISSPELLED = [
    ("INTAKE_DATABSE_URL", "INTAKE_DATABASE_URL"),
    ("INTAKE_TOKEN", "INTAKE_BOT_TOKEN"),
    ("INTAKE_WEBHOOK_SECRET", "INTAKE_WEBHOOK_SECRET_FILE"),
    ("INTAKE_MAX_FILES_MB", "INTAKE_MAX_FILE_MB"),
    ("intake_data_dri", "INTAKE_DATA_DIR"),
]


@pytest.mark.parametrize(("variable", "nearest"), MISSPELLED)
def test_a_misspelled_variable_stops_the_start_naming_the_nearest_setting(
    tmp_path: Path, variable: str, nearest: str
) -> None:
    """An INTAKE_* variable that is no setting: one line naming it and the nearest setting,
    instead of silently running on a default (SQLite, for a misspelled database URL)."""
    result = CliRunner().invoke(main, ["reviewer", "list"],
                                env={"INTAKE_DATA_DIR": str(tmp_path), variable: "x"})
    assert result.exit_code == 1
    assert result.output == (f"Error: {variable} in the environment is not a setting: did you "
                             f"mean {nearest}? Fix its name, or remove it\n")


def test_a_misspelled_or_unprefixed_key_in_the_config_file_stops_the_start(
    tmp_path: Path
) -> None:
    """In the config file too: a wrong INTAKE_* key names the nearest setting, and a setting
    written without its prefix is named with it."""
    config = tmp_path / "intake.env"
    config.write_text("INTAKE_RETENTION_DAY=closed=90\n")
    with pytest.raises(ConfigError, match=f"INTAKE_RETENTION_DAY in the config file {config} is "
                       "not a setting: did you mean INTAKE_RETENTION_DAYS"):
        load_settings(config)
    config.write_text("MAX_FILE_MB=50\n")
    with pytest.raises(ConfigError, match=r"MAX_FILE_MB in the config file .* is missing its "
                       r"prefix: write INTAKE_MAX_FILE_MB"):
        load_settings(config)


def test_variables_read_elsewhere_and_the_test_suites_are_no_misspelling(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reviewer's token and name, the config file's, verify's anchors, Caddy's names that
    compose's env file passes on, and the test suite's and CI's INTAKE_TEST_* are accepted."""
    for name in ("INTAKE_REVIEW_TOKEN", "INTAKE_REVIEW_ACTOR", "INTAKE_CONFIG",
                 "INTAKE_VERIFY_ANCHORS", "INTAKE_PUBLIC_HOST", "INTAKE_WORKERS",
                 "INTAKE_TEST_DATABASE_URL", "INTAKE_TEST_STRICT", "INTAKE_TEST_ANYTHING_NEW"):
        monkeypatch.setenv(name, "1")
    assert load_settings().max_file_mb == 20


def test_the_bot_api_connections_reach_the_bot_s_connection_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """INTAKE_BOT_API_CONNECTIONS sizes the pool of the Bot API client each bot builds."""
    from bot.telegram.bot_api_http import AiohttpRequest
    from bot.telegram.bot_options import build_bot
    from cli.app import bot_options

    monkeypatch.setenv("INTAKE_BOT_API_CONNECTIONS", "24")
    settings = load_settings()
    options = bot_options(settings, "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert options.bot_api_connections == 24
    request = build_bot(options).request
    assert isinstance(request, AiohttpRequest)
    assert request.connections == 24
