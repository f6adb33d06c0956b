"""Logging that cannot leak witness data: an allowlist formatter and token redaction.

Our own log calls carry an event name (a constant string) and a few allowlisted fields.
Third-party libraries (httpx, python-telegram-bot, aiohttp, SQLAlchemy, Pillow) put URLs,
request bodies, SQL parameters or image metadata in their messages, sometimes already formatted,
so their DEBUG and INFO records are dropped, and of their warnings and errors only the constant
template is kept, every argument replaced; a message that came preformatted is withheld.
Exceptions keep their type and code location, never their message, which can quote input.
Finally any configured secret (the bot token) is scrubbed from the line.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterable

SAFE_FIELDS = ("report_id", "items", "count", "error", "status", "duration_ms", "reason")
OUR_LOGGERS = ("intake",)
_REDACTED = "[redacted]"


def _is_ours(record: logging.LogRecord) -> bool:
    return record.name.split(".", 1)[0] in OUR_LOGGERS


class SafeFilter(logging.Filter):
    """Drops other libraries' DEBUG and INFO records, which routinely quote content."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _is_ours(record) or record.levelno >= logging.WARNING


class SafeFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        ours = _is_ours(record)
        event = str(record.msg) if ours else _template(record)
        parts = [self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), record.levelname, record.name, event]
        if ours:
            for field in SAFE_FIELDS:
                if field in record.__dict__:
                    parts.append(f"{field}={_safe_value(record.__dict__[field])}")
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(_exception_summary(record.exc_info[1]))
        line = " ".join(parts)
        for secret in self._secrets:
            line = line.replace(secret, _REDACTED)
        return line


def _template(record: logging.LogRecord) -> str:
    template = str(record.msg)
    if not record.args:
        # Without arguments we cannot tell a constant from a message formatted beforehand.
        return "(message withheld)"
    count = len(record.args) if isinstance(record.args, tuple) else 1
    try:
        return template % (("…",) * count)
    except (TypeError, ValueError, KeyError):
        return template


def _safe_value(value: object) -> str:
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, bool | int | float):
        return str(value)
    text = str(value)
    # Allowlisted fields hold opaque ids and numbers; anything long or spaced is not one.
    if len(text) > 64 or not text.replace("-", "").replace("_", "").isalnum():
        return _REDACTED
    return text


def _exception_summary(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"exc={type(error).__name__}{where}"


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> logging.Handler:
    """Install the safe formatter on the root logger; returns the handler (tests reuse it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter(secrets))
    handler.addFilter(SafeFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL, which contains the bot token; the formatter would redact it,
    # but there is no reason to produce those lines at all.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return handler
