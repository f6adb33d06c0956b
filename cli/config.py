"""Configuration from INTAKE_* environment variables, or the same names in a config file.

The config file is optional and uses dotenv syntax (`INTAKE_DATA_DIR=/srv/intake`); the
environment wins over the file. A missing or wrong value stops start-up with one line that
names the variable and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage import default_sqlite_url

TELEGRAM_API = "https://api.telegram.org"
_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")


class ConfigError(Exception):
    """One line naming what is wrong and how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    bot_token: SecretStr | None = None
    telegram_api_url: str = TELEGRAM_API
    data_dir: Path = Path("intake-data")
    database_url: str | None = None
    draft_ttl_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    max_file_mb: int = Field(default=20, ge=1, le=2000)
    log_level: str = "INFO"
    questionnaire: Path | None = None
    delete_after_submit: bool = True

    @field_validator("telegram_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL such as https://api.telegram.org")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError(
                "must start with postgresql:// (or postgresql+asyncpg://) or sqlite+aiosqlite://"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or default_sqlite_url(self.data_dir)

    def token(self) -> str:
        """The bot token, checked; raises ConfigError naming the fix."""
        if self.bot_token is None or not self.bot_token.get_secret_value():
            raise ConfigError(
                "INTAKE_BOT_TOKEN is not set: create a bot with @BotFather and set "
                "INTAKE_BOT_TOKEN (or run `intake demo` to try it without Telegram)"
            )
        token = self.bot_token.get_secret_value()
        if not _TOKEN.match(token):
            raise ConfigError(
                "INTAKE_BOT_TOKEN does not look like a bot token (digits, a colon, then 20+ "
                "letters, digits, - or _): copy it again from @BotFather"
            )
        return token


def load_settings(config_file: Path | None = None) -> Settings:
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist: fix the path or omit it")
    try:
        return Settings(_env_file=config_file)  # type: ignore[call-arg]
    except ValidationError as error:
        first = error.errors()[0]
        name = "INTAKE_" + str(first["loc"][0]).upper() if first["loc"] else "configuration"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name} {message}") from None
