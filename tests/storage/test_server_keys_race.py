"""Workers starting at the same moment on one data directory agree on the server's keys."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from crypto.drafts import DraftKeyFileError, DraftKeyring
from storage.server_keys import ServerKeys, load_or_create_server_keys


def _at_once(count: int, work: object) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work()  # type: ignore[operator]
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("attempt", range(5))
def test_server_keys_created_once_for_everyone(tmp_path: Path, attempt: int) -> None:
    """Eight starts at once: no crash, one set of keys, no temporary file left behind."""
    results = _at_once(8, lambda: load_or_create_server_keys(tmp_path))
    assert all(isinstance(r, ServerKeys) for r in results), results
    assert len({(r.hash_key, r.custody_key) for r in results}) == 1  # type: ignore[union-attr]
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["custody.key", "server.key"]


def test_draft_key_generated_once(tmp_path: Path) -> None:
    """Two generators at once: one writes the key whole, the other is told it exists."""
    path = tmp_path / "draft.key"
    results = _at_once(2, lambda: DraftKeyring.generate_file(path))
    assert sorted(type(r).__name__ for r in results) == ["DraftKeyFileError", "NoneType"]
    assert len(path.read_bytes()) >= 32
    assert [p.name for p in tmp_path.iterdir()] == ["draft.key"]
    with pytest.raises(DraftKeyFileError):
        DraftKeyring.generate_file(path)
