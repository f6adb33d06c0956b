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

import functools
import logging
import sys
import traceback
from collections.abc import Callable, Iterable

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
    def __init__(
        self, secrets: Iterable[str] = (), more: Callable[[], Iterable[str]] | None = None
    ) -> None:
        """`more`: secrets learnt while running (channels' own bots' tokens), asked per line."""
        super().__init__()
        self._secrets = [s for s in secrets if s]
        self._more = more

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
        secrets = self._secrets if self._more is None else [*self._secrets, *self._more()]
        return redact(" ".join(parts), secrets)


# A run of at least this many characters of a secret's part after its colon (the bot token's
# secret half) is redacted: an error message may cut a URL short or quote part of it.
MIN_SECRET_RUN = 8


def redact(line: str, secrets: Iterable[str]) -> str:
    """`line` with every secret, whole or partly, plain or percent-encoded, replaced.

    The line is read with %XX escapes decoded (so `123456%3AAAE...` is the token), and every run
    of characters that matches a stretch of a secret holding at least MIN_SECRET_RUN characters
    of its secret half is replaced, escapes and all. A bot token's id before the colon is
    public (every user sees it), so that part alone is left.
    """
    secrets = [s for s in secrets if s]
    decoded = line
    if "%" in line:
        decoded, spans = _decoded(line)
    # Every run long enough holds a whole window of the secret half: C-speed substring search
    # first, so the usual line costs next to nothing.
    secrets = [s for s in secrets if any(w in decoded for w in _windows(s))]
    if not secrets:
        return line
    if decoded is line:
        spans = [(i, i + 1) for i in range(len(line))]
    covered = [False] * len(decoded)
    for secret in secrets:
        _mark_runs(decoded, secret, covered)
    if not any(covered):
        return line
    out: list[str] = []
    position = 0
    index = 0
    while index < len(decoded):
        if not covered[index]:
            index += 1
            continue
        start = index
        while index < len(decoded) and covered[index]:
            index += 1
        out.append(line[position:spans[start][0]])
        out.append(_REDACTED)
        position = spans[index - 1][1]
    out.append(line[position:])
    return "".join(out)


@functools.lru_cache(maxsize=16)
def _windows(secret: str) -> list[str]:
    hidden = secret[secret.index(":") + 1:] if ":" in secret else secret
    size = min(MIN_SECRET_RUN, len(hidden))
    return [hidden[i:i + size] for i in range(len(hidden) - size + 1)]


def _decoded(line: str) -> tuple[str, list[tuple[int, int]]]:
    """The line with %XX escapes decoded, and each decoded character's span in the line."""
    characters: list[str] = []
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(line):
        escape = line[index + 1:index + 3]
        if line[index] == "%" and len(escape) == 2 and all(c in _HEX for c in escape):
            characters.append(chr(int(escape, 16)))
            spans.append((index, index + 3))
            index += 3
        else:
            characters.append(line[index])
            spans.append((index, index + 1))
            index += 1
    return "".join(characters), spans


_HEX = frozenset("0123456789abcdefABCDEF")


def _mark_runs(text: str, secret: str, covered: list[bool]) -> None:
    """Mark in `covered` each run of `text` equal to a stretch of `secret` that holds at least
    MIN_SECRET_RUN characters after the secret's colon (all of it if it has none)."""
    hidden_from = secret.index(":") + 1 if ":" in secret else 0
    need = min(MIN_SECRET_RUN, len(secret) - hidden_from)
    # run[j]: length of the common run ending at text[i-1] and secret[j-1] (dynamic programming).
    previous = [0] * (len(secret) + 1)
    for i in range(1, len(text) + 1):
        current = [0] * (len(secret) + 1)
        for j in range(1, len(secret) + 1):
            if text[i - 1] == secret[j - 1]:
                current[j] = previous[j - 1] + 1
                length = current[j]
                hidden = j - max(j - length, hidden_from)
                if hidden >= need:
                    for k in range(i - length, i):
                        covered[k] = True
        previous = current


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


def configure_logging(
    level: str = "INFO", secrets: Iterable[str] = (),
    more: Callable[[], Iterable[str]] | None = None,
) -> logging.Handler:
    """Install the safe formatter on the root logger; returns the handler (tests reuse it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter(secrets, more))
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
