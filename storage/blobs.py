"""Sealed payloads as files: written whole and synced before the database points at them.

A blob is only ever ciphertext (an age payload). It is written to a temporary name, fsynced,
renamed into place and the directory fsynced, so after `commit()` returns the payload survives a
crash; the database row that refers to it is committed afterwards. A crash in between leaves an
orphan blob (ciphertext nobody points at), never a row without its payload.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

_BLOB_NAME = re.compile(r"[a-z0-9]{16,64}")
_TEMP_NAME = re.compile(r"[a-z0-9]{2}/\.tmp-[0-9a-f]{16}")


def check_blob_name(name: str) -> None:
    if not _BLOB_NAME.fullmatch(name):
        raise ValueError("blob names are lowercase random ids")


class BlobWriter:
    """A write-only file that hashes what it is given and appears atomically on commit."""

    def __init__(self, final_path: Path, *, durable: bool = True) -> None:
        self._final_path = final_path
        self._durable = durable
        self._temp_path = final_path.with_name(f".tmp-{secrets.token_hex(8)}")
        # 0600 whatever the umask: ciphertext, but nobody else's business (nor its size).
        descriptor = os.open(self._temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO = os.fdopen(descriptor, "wb")  # closed in commit/discard
        self._sha256 = hashlib.sha256()
        self.size = 0
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._sha256.update(data)
        self.size += len(data)
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    @property
    def sha256_hex(self) -> str:
        return self._sha256.hexdigest()

    def commit(self) -> None:
        self._file.flush()
        # The file's times would record the second a report was sealed, which the database
        # deliberately does not keep; set them to the start of the day instead.
        day_start = int(time.time()) // 86_400 * 86_400
        os.utime(self._file.fileno(), (day_start, day_start))
        if self._durable:
            os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._temp_path, self._final_path)
        if self._durable:
            _fsync_dir(self._final_path.parent)
        _blur_dir_times(self._final_path.parent, day_start)
        self._done = True

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._temp_path.unlink(missing_ok=True)
        self._done = True

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._done:
            return
        if exc_type is None:
            self.commit()
        else:
            self.discard()


class BlobStore:
    """A directory of sealed payloads named by random item ids, fanned out by prefix."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        """`durable=False` skips the fsyncs of each payload, for bulk copies (backups,
        restores) that sync the whole file system once at the end instead: about ten times
        faster for small payloads."""
        self.root = root
        self._durable = durable
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    async def aclose(self) -> None:
        """Nothing to release here (each call opens and closes its own file); stores that hold
        connections (storage/payload_table.py) close them."""

    def _path(self, name: str) -> Path:
        check_blob_name(name)
        return self.root / name[:2] / name

    def create(self, name: str) -> BlobWriter:
        path = self._path(name)
        if not path.parent.exists():
            path.parent.mkdir(exist_ok=True, mode=0o700)
            if self._durable:
                _fsync_dir(self.root)
        return BlobWriter(path, durable=self._durable)

    def open(self, name: str) -> BinaryIO:
        return open(self._path(name), "rb")

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def size(self, name: str) -> int:
        return self._path(name).stat().st_size

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(path.parent)
        _blur_dir_times(path.parent, int(time.time()) // 86_400 * 86_400)

    def names(self) -> list[str]:
        return sorted(
            p.name for p in self.root.glob("*/*") if p.is_file() and not p.name.startswith(".")
        )

    def temp_names(self) -> list[str]:
        """Payloads being written, or left half-written by a crash: `<prefix>/.tmp-<hex>`."""
        return sorted(
            f"{p.parent.name}/{p.name}"
            for p in self.root.glob("*/.tmp-*")
            if p.is_file() and _TEMP_NAME.fullmatch(f"{p.parent.name}/{p.name}")
        )

    def delete_temp(self, name: str) -> None:
        if not _TEMP_NAME.fullmatch(name):
            raise ValueError("not the name of a temporary payload")
        path = self.root / name
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(path.parent)
        _blur_dir_times(path.parent, int(time.time()) // 86_400 * 86_400)


def _blur_dir_times(directory: Path, day_start: int) -> None:
    """A directory's times would give the second of its last change; set them to the day."""
    for folder in (directory, directory.parent):
        os.utime(folder, (day_start, day_start))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
