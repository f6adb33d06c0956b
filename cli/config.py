"""Configuration from INTAKE_* environment variables, or the same names in a config file.

The config file is optional and uses dotenv syntax (`INTAKE_DATA_DIR=/srv/intake`); the
environment wins over the file. A missing or wrong value stops start-up with one line that
names the variable and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotated_types import Ge, Le
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from review.evidence.tsa import TsaConfig

TELEGRAM_API = "https://api.telegram.org"
_TOKEN = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")
# A century: beyond that "keep for ever" is meant, which is simply leaving the status out.
MAX_RETENTION_DAYS = 36500


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


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
    # Witness files fetched and sealed at once; each costs well under 1 MB while it streams.
    max_concurrent_files: int = Field(default=4, ge=1, le=256)
    log_level: str = "INFO"
    questionnaire: Path | None = None
    # Days a report is kept once it has a status, e.g. "closed=90,rejected=30"; statuses not
    # listed are kept for ever. Empty: `intake retention run` refuses to run.
    retention_days: str = ""
    # The reviewer API's HOST:PORT; `intake api serve` defaults to 127.0.0.1:8443, and
    # `intake serve` runs the API beside the bot only when this is set.
    api_listen: str | None = None
    # A Telegram chat for content-free "a new report arrived" notices, at most one per interval.
    reviewers_chat_id: int | None = None
    # Whether a plain /start first asks which organisation to report to, listing the public
    # channels (`intake channel set SLUG --public`); deep links work either way.
    channel_chooser: bool = False
    notify_interval_minutes: int = Field(default=10, ge=1, le=24 * 60)
    delete_after_submit: bool = True
    # Whether a witness may delete their submitted report with /status and the receipt code.
    witness_may_delete: bool = False
    # Drafts and messages waiting to be sent: "sealed" (kept across restarts, sealed with the
    # draft key) or "ephemeral" (sealed with a key held in memory only: a restart loses them).
    drafts: str = "sealed"
    # The draft key: a systemd credential or compose secret; default <data dir>/keys/draft.key.
    draft_key_file: Path | None = None
    # Webhook mode (`intake serve --webhook`): where to listen (behind a TLS reverse proxy),
    # the public https URL to register with Telegram, and the shared secret Telegram sends back.
    webhook_listen: str = "127.0.0.1:8080"
    webhook_url: str | None = None
    webhook_secret_file: Path | None = None
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    # Where sealed payloads live: "directory" (<data dir>/blobs, the default) or "database"
    # (PostgreSQL only: every worker, on any machine, reaches them).
    payloads: str = "directory"
    # Trusted time (review/evidence/anchor.py): RFC 3161 authorities that timestamp each day's
    # Merkle root (comma-separated http(s) URLs; empty: trees are built and wait, queued), the
    # PEM CA certificates their tokens are verified with (comma-separated files), and how long
    # after midnight UTC a day's tree waits for that day's last commits.
    tsa_urls: str = ""
    tsa_ca_files: str = ""
    anchor_grace_minutes: int = Field(default=60, ge=0, le=24 * 60)

    @field_validator("tsa_urls")
    @classmethod
    def _tsa_urls(cls, value: str) -> str:
        for url in _split_list(value):
            if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", url):
                raise ValueError(f"{url!r} is not an http(s) URL of a time-stamp authority")
        return value.strip()

    @property
    def tsa_url_list(self) -> list[str]:
        return _split_list(self.tsa_urls)

    def tsa_configs(self) -> list[TsaConfig]:
        """The configured authorities with the CA certificates to verify their tokens."""
        from review.evidence.tsa import load_tsa_configs

        files = [Path(f) for f in _split_list(self.tsa_ca_files)]
        if self.tsa_url_list and not files:
            raise ConfigError(
                "INTAKE_TSA_CA_FILES is not set: point it at the PEM CA certificate(s) of the "
                "authorities in INTAKE_TSA_URLS, so their timestamps can be verified"
            )
        try:
            return load_tsa_configs(self.tsa_url_list, files)
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"INTAKE_TSA_CA_FILES: cannot use the CA certificates ({type(error).__name__}): "
                "each file must be readable PEM certificates"
            ) from None

    @field_validator("drafts")
    @classmethod
    def _drafts(cls, value: str) -> str:
        if value.strip().lower() not in ("sealed", "ephemeral"):
            raise ValueError("must be sealed or ephemeral")
        return value.strip().lower()

    @field_validator("payloads")
    @classmethod
    def _payloads(cls, value: str) -> str:
        if value.strip().lower() not in ("directory", "database"):
            raise ValueError("must be directory or database (database needs PostgreSQL)")
        return value.strip().lower()

    @field_validator("webhook_listen")
    @classmethod
    def _webhook_listen(cls, value: str) -> str:
        if parse_host_port(value) is None:
            raise ValueError("must be HOST:PORT, for example 127.0.0.1:8080")
        return value.strip()

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.fullmatch(r"https://[^/\s]+(/\S*)?", value.strip()):
            raise ValueError("must be the public https:// URL of the webhook (Telegram calls "
                             "https only)")
        return value.strip()
    # The language reviewers read reports in (question and choice labels from the
    # questionnaire), whatever language the witness used; CLI, console and export agree.
    reviewer_language: str = "en"

    @field_validator("reviewer_language")
    @classmethod
    def _reviewer_language(cls, value: str) -> str:
        language = value.strip().lower()
        if language == "en":
            return language  # the default: no need to load the translation catalogs
        from bot.i18n import LANGUAGE_NAMES

        if language not in LANGUAGE_NAMES:
            raise ValueError(f"must be one of {', '.join(LANGUAGE_NAMES)}")
        return language

    @field_validator("telegram_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL such as https://api.telegram.org")
        return value.rstrip("/")

    @field_validator("api_listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})", value.strip())
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise ValueError("must be HOST:PORT, for example 127.0.0.1:8443")
        return value.strip()

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

    @field_validator("retention_days")
    @classmethod
    def _retention_days(cls, value: str) -> str:
        parse_retention(value)
        return value.strip()

    @property
    def retention_periods(self) -> dict[str, int]:
        """INTAKE_RETENTION_DAYS as {status: days}; empty when not configured."""
        return parse_retention(self.retention_days)

    @property
    def resolved_database_url(self) -> str:
        from storage import default_sqlite_url  # SQLAlchemy: only for commands that use it

        return self.database_url or default_sqlite_url(self.data_dir)

    @property
    def resolved_draft_key_file(self) -> Path:
        return self.draft_key_file or self.data_dir / "keys" / "draft.key"

    def webhook_secret(self) -> str:
        """The webhook's secret token, read from INTAKE_WEBHOOK_SECRET_FILE."""
        if self.webhook_secret_file is None:
            raise ConfigError(
                "INTAKE_WEBHOOK_SECRET_FILE is not set: write 32+ random letters and digits to "
                "a file (e.g. `openssl rand -hex 32 > webhook.secret`) and point it there"
            )
        try:
            secret = self.webhook_secret_file.read_text().strip()
        except OSError:
            raise ConfigError(
                f"INTAKE_WEBHOOK_SECRET_FILE: cannot read {self.webhook_secret_file}: fix the "
                "path or its permissions"
            ) from None
        if not re.fullmatch(r"[A-Za-z0-9_-]{32,256}", secret):
            raise ConfigError(
                "INTAKE_WEBHOOK_SECRET_FILE must hold 32 to 256 letters, digits, _ or - "
                "(Telegram's rule): e.g. `openssl rand -hex 32`"
            )
        return secret

    def token(self) -> str:
        """The bot token, checked; raises ConfigError naming the fix."""
        if self.bot_token is None or not self.bot_token.get_secret_value():
            raise ConfigError(
                "INTAKE_BOT_TOKEN is not set: create a bot with @BotFather and set "
                "INTAKE_BOT_TOKEN (or run `intake demo` to try it without Telegram)"
            )
        token = self.bot_token.get_secret_value()
        if not _TOKEN.fullmatch(token):
            raise ConfigError(
                "INTAKE_BOT_TOKEN does not look like a bot token (digits, a colon, then 20+ "
                "letters, digits, - or _): copy it again from @BotFather"
            )
        return token


def parse_host_port(text: str) -> tuple[str, int] | None:
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})", text.strip())
    if match is None or not 0 < int(match.group(2)) < 65536:
        return None
    return match.group(1).strip("[]"), int(match.group(2))


def parse_retention(text: str) -> dict[str, int]:
    """Parse "closed=90,rejected=30"; ValueError naming the fix for anything else."""
    from review.backend import STATUSES

    usage = (
        "must be STATUS=DAYS pairs separated by commas, such as closed=90,rejected=30 "
        f"(statuses: {', '.join(STATUSES)}; 1 to {MAX_RETENTION_DAYS} days; each status once)"
    )
    periods: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        status, equals, days = (s.strip() for s in part.partition("="))
        if (
            not equals
            or status not in STATUSES
            or status in periods
            or not days.isdigit()
            or not 1 <= int(days) <= MAX_RETENTION_DAYS
        ):
            raise ValueError(f"{usage}; fix {part!r}")
        periods[status] = int(days)
    return periods


def load_settings(config_file: Path | None = None) -> Settings:
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist: fix the path or omit it")
    try:
        return Settings(_env_file=config_file)  # type: ignore[call-arg]
    except ValidationError as error:
        raise ConfigError(_one_line(error.errors()[0])) from None


def _one_line(problem: ErrorDetails) -> str:
    """pydantic's wording ("Input should be a valid integer...") as our one line with the fix."""
    field = str(problem["loc"][0]) if problem["loc"] else ""
    name = "INTAKE_" + field.upper() if field else "the configuration"
    if problem["type"] == "value_error":
        # Our own validators' messages already say what the value must be.
        return f"{name} {str(problem['msg']).removeprefix('Value error, ')}"
    info = Settings.model_fields.get(field)
    default: Any = info.default if info is not None else None
    if isinstance(default, bool):
        default = str(default).lower()
    unset = f", or unset it for the default, {default}" if default is not None else ""
    if problem["type"] in ("bool_parsing", "bool_type"):
        return f"{name} must be true or false (not {_shown(problem['input'])}): fix it{unset}"
    bounds = {type(m): m for m in (info.metadata if info is not None else ())}
    if Ge in bounds and Le in bounds:
        wanted = f"a whole number from {bounds[Ge].ge} to {bounds[Le].le}"
    elif field == "reviewers_chat_id":
        wanted = "a Telegram chat id (a whole number, negative for groups)"
    else:
        wanted = "a whole number" if "int" in problem["type"] else "a valid value"
    return f"{name} must be {wanted} (not {_shown(problem['input'])}): fix it{unset}"


def _shown(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "...")
