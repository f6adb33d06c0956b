"""Telling the database's refusals apart, for log lines that name the setting to change."""

from __future__ import annotations

# PostgreSQL's SQLSTATE for "too many connections" (too many clients for the server, the
# role or the database; "remaining connection slots are reserved" is 53300 too).
_TOO_MANY_CONNECTIONS = "53300"


def refused_connection(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is PostgreSQL refusing a new connection."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) == _TOO_MANY_CONNECTIONS or getattr(
            current, "pgcode", None
        ) == _TOO_MANY_CONNECTIONS:
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


REFUSED_HINT = (
    "database.refused hint=PostgreSQL refused a connection (too many clients): lower "
    "INTAKE_DATABASE_CONNECTIONS on each worker (it holds that many plus 1, plus 4 with "
    "INTAKE_PAYLOADS=database) or raise the server's max_connections; the update is retried"
)
