"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import Storage, default_sqlite_url
from tests.support import drop_templates, fresh_postgres_database, migrated_sqlite_file


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_templates()


@pytest.fixture(autouse=True)
def _own_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test (and every process it starts) keeps per-user files, such as the Uwazi export
    ledger under $XDG_DATA_HOME, in its own folder: never in the real home, where a ledger
    left by another test or an earlier run, sealed to another key, would not open."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests (real `intake serve` processes under load, a minute or two each) first:
    the first of the two test processes starts on them while the other takes the rest, so
    they run one after another rather than side by side, and none is left for the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Every storage-backed test runs on a real SQLite file and on a real PostgreSQL database,
    each already brought to the newest schema (a copy of one store the real migrations built)."""
    if request.param == "sqlite":
        await migrated_sqlite_file(tmp_path / "data" / "intake.db")
        yield default_sqlite_url(tmp_path / "data")
    else:
        async with fresh_postgres_database(migrated=True) as url:
            yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """An empty SQLite file or PostgreSQL database: for the tests that run the migrations."""
    if request.param == "sqlite":
        yield default_sqlite_url(tmp_path / "data")
    else:
        async with fresh_postgres_database() as url:
            yield url


@pytest.fixture
async def storage(database_url: str, tmp_path: Path) -> AsyncIterator[Storage]:
    store = await Storage.open(database_url, tmp_path / "data" / "blobs")
    try:
        yield store
    finally:
        await store.close()
