"""Opening the store for a command: light on imports, so every command starts at once."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.exc import DBAPIError

from cli.config import ConfigError, Settings
from storage import Storage
from storage.connection_errors import describe_database_error

REMOTE_HINT = ", or work against the reviewer API with `intake review --server URL`"


def require_data_dir(settings: Settings, hint: str = "") -> None:
    """Commands that read existing data refuse a missing data directory instead of making one.

    Creating an empty `./intake-data` and then reporting "no reports match" would hide the real
    mistake: the command ran somewhere else than the server's data.
    """
    if not settings.data_dir.is_dir():
        raise ConfigError(
            f"there is no data directory at {settings.data_dir}: set INTAKE_DATA_DIR (in the "
            f"environment or a --config file) to the server's data directory{hint}"
        )


@contextlib.asynccontextmanager
async def open_storage(settings: Settings, *, must_exist: bool = False) -> AsyncIterator[Storage]:
    """The store; with `must_exist`, a missing data directory is refused (require_data_dir)."""
    if must_exist:
        require_data_dir(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        storage = await Storage.open(
            settings.resolved_database_url,
            settings.data_dir / "blobs",
            payloads="database" if settings.payloads == "database" else "directory",
            connections=settings.database_connections,
        )
    except ValueError as error:  # payloads in the database without PostgreSQL
        raise ConfigError(f"INTAKE_PAYLOADS: {error}") from None
    except (OSError, DBAPIError) as error:
        # One line naming the fix (storage/connection_errors.py), never a traceback.
        line = describe_database_error(error, settings.resolved_database_url) or (
            f"the database refused to open ({type(error).__name__}"
            f"{_sqlstate(error)}): check the URL, the server's log and the role's privileges"
        )
        raise ConfigError(f"INTAKE_DATABASE_URL: {line}") from None
    try:
        yield storage
    finally:
        await storage.close()


def _sqlstate(error: BaseException) -> str:
    state = getattr(getattr(error, "orig", None), "sqlstate", None)
    return f", SQLSTATE {state}" if state else ""
