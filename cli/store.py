"""Opening the store for a command: light on imports, so every command starts at once."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from cli.config import ConfigError, Settings
from storage import Storage


@contextlib.asynccontextmanager
async def open_storage(settings: Settings) -> AsyncIterator[Storage]:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        storage = await Storage.open(settings.resolved_database_url, settings.data_dir / "blobs")
    except OSError as error:
        raise ConfigError(
            f"INTAKE_DATABASE_URL: cannot reach the database ({type(error).__name__}): check "
            "that the server runs and the URL is right"
        ) from None
    try:
        yield storage
    finally:
        await storage.close()
