"""Configuration from INTAKE_* environment variables, or the same names in a config file.

The config file is optional and uses dotenv syntax (`INTAKE_DATA_DIR=/srv/intake`); the
environment wins over it. A missing or wrong value stops start-up with one line that names the
variable and the fix.

Each value is converted to its field's type and checked against the bounds written beside it by
msgspec (`convert` from text, `Meta` bounds); python-dotenv reads the config file. Both replace
pydantic-settings: `intake review list` starts 0.04 s sooner (0.37 to 0.33 s) and an idle
`intake serve` holds 8 MB less (86.5 to 78 MB; bench/cli_startup.py, bench/drafts_memory.py).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from cli.setting_checks import CHECKS, parse_retention, split_list

if TYPE_CHECKING:
    from review.evidence.tsa import TsaConfig

TELEGRAM_API = "https://api.telegram.org"
_TOKEN = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")
_PREFIX = "INTAKE_"


def _within(low: int, high: int) -> msgspec.Meta:
    return msgspec.Meta(ge=low, le=high)


class ConfigError(Exception):
    """One line naming what is wrong and how to fix it."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting, converted and checked as it is made (from the environment or by code).

    Text is accepted for every field (the environment's and the config file's values), so
    `Settings(max_file_mb="20")` and `Settings(max_file_mb=20)` are the same settings; anything
    that cannot be converted, or falls outside its bounds, raises ConfigError naming the
    variable.
    """

    # Never in a repr: tracebacks and debug prints must not carry the token.
    bot_token: str | None = dataclasses.field(default=None, repr=False)
    telegram_api_url: str = TELEGRAM_API
    data_dir: Path = Path("intake-data")
    database_url: str | None = None
    # PostgreSQL connections one worker keeps for its transactions; it holds one more for chat
    # locks and, with INTAKE_PAYLOADS=database, up to 4 for payloads (docs/storage-format.md).
    database_connections: Annotated[int, _within(1, 100)] = 5
    # Connections each bot keeps to the Bot API (bot/telegram/sender.py BOT_API_CONNECTIONS):
    # each carries about 1 / (Telegram's answer time) calls a second.
    bot_api_connections: Annotated[int, _within(1, 256)] = 8
    draft_ttl_minutes: Annotated[int, _within(1, 7 * 24 * 60)] = 60
    max_file_mb: Annotated[int, _within(1, 2000)] = 20
    # Witness files fetched and sealed at once; each costs well under 1 MB while it streams.
    max_concurrent_files: Annotated[int, _within(1, 256)] = 4
    log_level: str = "INFO"
    questionnaire: Path | None = None
    # Days a report is kept once it has a status, e.g. "closed=90,rejected=30"; statuses not
    # listed are kept for ever. Empty: `intake retention run` refuses to run.
    retention_days: str = ""
    # The reviewer API's HOST:PORT; `intake api serve` defaults to 127.0.0.1:8443, and
    # `intake serve` runs the API beside the bot only when this is set.
    api_listen: str | None = None
    # The API's own TLS certificate (PEM chain) and key; needed off loopback unless
    # api_plain_http says a TLS proxy on a private network is in front of it.
    api_tls_cert_file: Path | None = None
    api_tls_key_file: Path | None = None
    api_plain_http: bool = False
    # A Telegram chat for content-free "a new report arrived" notices, at most one per interval.
    reviewers_chat_id: int | None = None
    # Whether a plain /start first asks which organisation to report to, listing the public
    # channels (`intake channel set SLUG --public`); deep links work either way.
    channel_chooser: bool = False
    notify_interval_minutes: Annotated[int, _within(1, 24 * 60)] = 10
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
    webhook_max_connections: Annotated[int, _within(1, 100)] = 40
    # Where a polling bot serves /healthz, /readyz and /metrics, e.g. 127.0.0.1:9464 (deploy/
    # sets it); unset: nowhere. Webhook workers serve them on INTAKE_WEBHOOK_LISTEN instead.
    health_listen: str | None = None
    # Where sealed payloads live: "directory" (<data dir>/blobs, the default) or "database"
    # (PostgreSQL only: every worker, on any machine, reaches them).
    payloads: str = "directory"
    # Trusted time (review/evidence/anchor.py): RFC 3161 authorities that timestamp each day's
    # Merkle root (comma-separated http(s) URLs; empty: trees are built and wait, queued), the
    # PEM CA certificates their tokens are verified with (comma-separated files), and how long
    # after midnight UTC a day's tree waits for that day's last commits.
    tsa_urls: str = ""
    tsa_ca_files: str = ""
    anchor_grace_minutes: Annotated[int, _within(0, 24 * 60)] = 60
    # The language reviewers read reports in (question and choice labels from the
    # questionnaire), whatever language the witness used; CLI, console and export agree.
    reviewer_language: str = "en"

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not field.default:  # the defaults are known good; checks may import
                object.__setattr__(self, field.name, _checked(field.name, value))

    @property
    def tsa_url_list(self) -> list[str]:
        return split_list(self.tsa_urls)

    def tsa_configs(self) -> list[TsaConfig]:
        """The configured authorities with the CA certificates to verify their tokens."""
        from review.evidence.tsa import load_tsa_configs

        files = [Path(f) for f in split_list(self.tsa_ca_files)]
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
            from storage.server_keys import KeyFileError, refuse_if_others_can_read

            try:
                refuse_if_others_can_read(self.webhook_secret_file, "webhook secret file")
            except KeyFileError as error:
                raise ConfigError(f"INTAKE_WEBHOOK_SECRET_FILE: {error}") from None
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
        if not self.bot_token:
            raise ConfigError(
                "INTAKE_BOT_TOKEN is not set: create a bot with @BotFather and set "
                "INTAKE_BOT_TOKEN (or run `intake demo` to try it without Telegram)"
            )
        if not _TOKEN.fullmatch(self.bot_token):
            raise ConfigError(
                "INTAKE_BOT_TOKEN does not look like a bot token (digits, a colon, then 20+ "
                "letters, digits, - or _): copy it again from @BotFather"
            )
        return self.bot_token


# INTAKE_* names that are not settings but are read elsewhere, so they are no misspelling: a
# command's own options (the config file, the reviewer's API token and name, `intake verify`'s
# anchors) and the deploy files' variables for Caddy, which compose's env file also hands to
# the bot's containers.
OTHER_VARIABLES = frozenset({
    "INTAKE_CONFIG", "INTAKE_REVIEW_TOKEN", "INTAKE_REVIEW_ACTOR", "INTAKE_VERIFY_ANCHORS",
    "INTAKE_PUBLIC_HOST", "INTAKE_WORKERS",
})
# The test suite's and CI's own variables (INTAKE_TEST_DATABASE_URL, INTAKE_TEST_STRICT).
_TEST_PREFIX = "INTAKE_TEST_"


def load_settings(config_file: Path | None = None) -> Settings:
    """The INTAKE_* variables of the config file, overridden by the environment's.

    An INTAKE_* name that is no setting stops the start, naming the nearest one: a misspelled
    INTAKE_DATABSE_URL must not leave the installation silently on SQLite.
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist: fix the path or omit it")
    values: dict[str, str] = {}
    if config_file is not None:
        from dotenv import dotenv_values

        values.update(_ours(dotenv_values(config_file), f"in the config file {config_file}"))
    values.update(_ours(os.environ, "in the environment"))
    return Settings(**values)  # type: ignore[arg-type]  # text: converted in __post_init__


def _ours(source: Mapping[str, str | None], where: str) -> dict[str, str]:
    """Our fields' values among INTAKE_* names, matched in any case; ConfigError for an
    INTAKE_* name that is none of them (nor in OTHER_VARIABLES), and, in a config file, for a
    setting's name written without its INTAKE_ prefix. Other names are someone else's
    (POSTGRES_PASSWORD in compose's env file) and left alone."""
    names = _field_types()
    found: dict[str, str] = {}
    for key, value in sorted(source.items()):
        upper = key.upper()
        if not upper.startswith(_PREFIX):
            if where != "in the environment" and _variable(key.lower()) in _known():
                raise ConfigError(f"{key} {where} is missing its prefix: write "
                                  f"{_variable(key.lower())}")
            continue
        name = upper[len(_PREFIX):].lower()
        if name in names:
            if value is not None:
                found[name] = value
        elif upper not in OTHER_VARIABLES and not upper.startswith(_TEST_PREFIX):
            raise ConfigError(f"{key} {where} is not a setting: did you mean {_nearest(upper)}? "
                              "Fix its name, or remove it")
    return found


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(_variable(name) for name in _field_types())


def _nearest(variable: str) -> str:
    import difflib

    return difflib.get_close_matches(variable, sorted(_known()), n=1, cutoff=0.0)[0]


@functools.cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(Settings, include_extras=True)


def _variable(name: str) -> str:
    return _PREFIX + name.upper()


def _checked(name: str, value: object) -> object:
    """`value` as the field's type, within its bounds and through its check; else ConfigError."""
    hint = _field_types()[name]
    if isinstance(value, str) and hint is not str:
        value = value.strip()
        if value == "" and type(None) in typing.get_args(hint):
            return None  # an empty optional setting is an unset one
        value = _spelled(hint, value)
    try:
        converted = msgspec.convert(value, hint, strict=False, dec_hook=_path)
    except msgspec.ValidationError:
        raise ConfigError(_wrong(name, hint, value)) from None
    check = CHECKS.get(name)
    if check is None:
        return converted
    try:
        return check(converted)
    except ValueError as error:
        raise ConfigError(f"{_variable(name)} {error}") from None


# The spellings pydantic-settings accepted, which operators' files may hold.
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def _spelled(hint: Any, text: str) -> object:
    """Booleans as yes/no/on/off too, and whole numbers as Python writes them (+5, 1_000)."""
    kinds = set(typing.get_args(hint)) | {hint}
    if bool in kinds and text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    if int in kinds:
        try:
            return int(text)
        except ValueError:
            pass  # msgspec names what is wrong with it
    return text


def _path(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str | Path):
        return Path(value)
    raise TypeError(f"not a path: {type(value).__name__}")  # msgspec makes it a ValidationError


def _wrong(name: str, hint: Any, value: object) -> str:
    """The one line for a value of the wrong type or out of bounds, with its default."""
    default = next(f.default for f in dataclasses.fields(Settings) if f.name == name)
    if isinstance(default, bool):
        default = str(default).lower()
    unset = f", or unset it for the default, {default}" if default is not None else ""
    kinds = set(typing.get_args(hint)) | {hint}
    bounds = [m for m in typing.get_args(hint)[1:] if isinstance(m, msgspec.Meta)]
    if bool in kinds:
        return f"{_variable(name)} must be true or false (not {_shown(value)}): fix it{unset}"
    if bounds:
        wanted = f"a whole number from {bounds[0].ge} to {bounds[0].le}"
    elif name == "reviewers_chat_id":
        wanted = "a Telegram chat id (a whole number, negative for groups)"
    elif int in kinds:
        wanted = "a whole number"
    else:
        wanted = "a valid value"
    return f"{_variable(name)} must be {wanted} (not {_shown(value)}): fix it{unset}"


def _shown(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "...")
