"""The blob store: atomic appearance, hashing, refusal of odd names."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import BlobStore


def test_blob_appears_only_on_commit(tmp_path: Path) -> None:
    """Until commit the final name does not exist; afterwards it holds exactly the bytes."""
    store = BlobStore(tmp_path / "blobs")
    writer = store.create("a" * 32)
    writer.write(b"hello ")
    writer.write(b"world")
    assert not store.exists("a" * 32)
    writer.commit()
    with store.open("a" * 32) as handle:
        assert handle.read() == b"hello world"
    assert writer.size == 11
    assert writer.sha256_hex == "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    """An exception inside the writer discards the temporary file."""
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(RuntimeError), store.create("b" * 32) as writer:
        writer.write(b"partial")
        raise RuntimeError("boom")
    assert store.names() == []
    assert not any(p.is_file() for p in (tmp_path / "blobs").rglob("*"))


def test_names_are_random_ids_only(tmp_path: Path) -> None:
    """A path-like or uppercase name is refused, so no caller can escape the directory."""
    store = BlobStore(tmp_path / "blobs")
    for bad in ("../etc/passwd", "ABCDEF0123456789", "short", "a" * 16 + "/x"):
        with pytest.raises(ValueError):
            store.create(bad)


def test_blob_and_folder_times_say_only_the_day(tmp_path: Path) -> None:
    """A sealed payload's file and folder times are the start of the day, not the second."""
    import time

    store = BlobStore(tmp_path / "blobs")
    with store.create("c" * 32) as writer:
        writer.write(b"ciphertext")
    day_start = int(time.time()) // 86_400 * 86_400
    blob = tmp_path / "blobs" / "cc" / ("c" * 32)
    for path in (blob, blob.parent, blob.parent.parent):
        assert int(path.stat().st_mtime) == day_start
