"""What each setting's value must be beyond its type (cli/config.py converts it to the type).

Each check takes the converted value and returns it normalised, or raises ValueError saying
what the value must be ("must be ..."); the settings put the variable's name in front.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# A century: beyond that "keep for ever" is meant, which is simply leaving the status out.
MAX_RETENTION_DAYS = 36500


def split_list(value: str) -> list[str]:
    """A comma-separated setting's parts, blanks left out."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _tsa_urls(value: str) -> str:
    for url in split_list(value):
        if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", url):
            raise ValueError(f"{url!r} is not an http(s) URL of a time-stamp authority")
    return value.strip()


def _one_of(*choices: str, why: str = "") -> Callable[[str], str]:
    def check(value: str) -> str:
        if value.strip().lower() not in choices:
            raise ValueError(f"must be {' or '.join(choices)}{why}")
        return value.strip().lower()

    return check


def _host_port(example: str) -> Callable[[str | None], str | None]:
    def check(value: str | None) -> str | None:
        if value is None:  # an optional address left empty
            return None
        if parse_host_port(value) is None:
            raise ValueError(f"must be HOST:PORT, for example {example}")
        return value.strip()

    return check


def _webhook_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"https://[^/\s]+(/\S*)?", value.strip()):
        raise ValueError("must be the public https:// URL of the webhook (Telegram calls "
                         "https only)")
    return value.strip()


def _reviewer_language(value: str) -> str:
    language = value.strip().lower()
    if language == "en":
        return language  # the default: no need to load the translation catalogs
    from bot.i18n import LANGUAGE_NAMES

    if language not in LANGUAGE_NAMES:
        raise ValueError(f"must be one of {', '.join(LANGUAGE_NAMES)}")
    return language


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("must be an http(s) URL such as https://api.telegram.org")
    return value.rstrip("/")


def _database_url(value: str | None) -> str | None:
    if value is None:
        return None
    if value.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + value.split("://", 1)[1]
    if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        raise ValueError(
            "must start with postgresql:// (or postgresql+asyncpg://) or sqlite+aiosqlite://"
        )
    return value


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
    return level


def _retention_days(value: str) -> str:
    parse_retention(value)
    return value.strip()


CHECKS: dict[str, Callable[[Any], Any]] = {
    "tsa_urls": _tsa_urls,
    "drafts": _one_of("sealed", "ephemeral"),
    "payloads": _one_of("directory", "database", why=" (database needs PostgreSQL)"),
    "webhook_listen": _host_port("127.0.0.1:8080"),
    "webhook_url": _webhook_url,
    "reviewer_language": _reviewer_language,
    "telegram_api_url": _http_url,
    "api_listen": _host_port("127.0.0.1:8443"),
    "health_listen": _host_port("127.0.0.1:9464"),
    "database_url": _database_url,
    "log_level": _log_level,
    "retention_days": _retention_days,
}


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
