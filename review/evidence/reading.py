"""Reading a bundle that may be hostile: regular files only, never followed, hashed in chunks.

A bundle comes from whoever hands it over. Before any check reads a byte, `scan` walks the
folder without following anything and refuses every entry that is not a regular file or a
folder (a symlink to /dev/zero, manifest.json as a named pipe, a device) and every file over
the size cap, each with one line. The checks then read only through `read_small` (capped, for
JSON, keys, tokens) and `sha256_file` (streamed), both of which open with O_NOFOLLOW and
O_NONBLOCK and check the opened file is regular, so a file swapped for a pipe after the scan
still cannot block or feed the verifier without end.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

Problem = tuple[str, str]

# A sealed video may be large; nothing in a bundle is larger than the biggest attachment a
# channel accepts, and 4 GiB is well above Telegram's bot download limit (20 MB).
DEFAULT_MAX_FILE = 4 << 30
# Files a check parses whole (JSON, PEM, tokens, signatures, the custody chain).
MAX_SMALL_FILE = 64 << 20
_CHUNK = 1 << 20


class Unreadable(Exception):
    """A file a check needs is missing, not regular, too large or malformed; `problem` names it."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name}: {why}")
        self.problem = (name, why)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


@dataclass
class Scan:
    files: dict[str, int] = field(default_factory=dict)  # name -> size, regular files only
    refused: list[Problem] = field(default_factory=list)


def scan(folder: Path, max_file: int = DEFAULT_MAX_FILE) -> Scan:
    """Every regular file under `folder` (relative names, / separators), and what was refused."""
    found = Scan()

    def walk(directory: Path, prefix: str) -> None:
        # Depth first, in name order, with a stack of its own rather than recursion: a bundle
        # of a thousand nested folders must not exhaust Python's recursion limit.
        stack: list[tuple[Iterator[os.DirEntry[str]], str]] = []

        def enter(path: Path | str, at: str) -> None:
            with os.scandir(path) as listing:
                stack.append((iter(sorted(listing, key=lambda e: e.name)), at))

        enter(directory, prefix)
        while stack:
            entries, at = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                continue
            name = at + entry.name
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                enter(entry.path, name + "/")
            elif not stat.S_ISREG(mode):
                found.refused.append((name, f"is {_kind(mode)}: refused unread (a bundle "
                                            "holds regular files only)"))
            elif (size := entry.stat(follow_symlinks=False).st_size) > max_file:
                found.refused.append((name, f"is larger than the {max_file} byte limit: "
                                            "refused unread (see --max-file-size)"))
            else:
                found.files[name] = size

    try:
        walk(folder, "")
    except OSError as error:
        found.refused.append((".", f"cannot be listed: {error.strerror}"))
    return found


def _checked_name(name: str) -> str:
    if not name or name.startswith("/") or ".." in name.split("/") or "\0" in name:
        raise Unreadable(name, "names a file outside the bundle")
    return name


def _chunks(folder: Path, name: str, limit: int) -> Iterator[bytes]:
    path = folder / _checked_name(name)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise Unreadable(name, "is missing") from None
    except OSError as error:
        raise Unreadable(name, f"cannot be opened ({error.strerror}); a bundle holds regular "
                               "files only") from None
    with os.fdopen(descriptor, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise Unreadable(name, f"is {_kind(mode)}: refused unread")
        total = 0
        while chunk := handle.read(_CHUNK):
            total += len(chunk)
            if total > limit:
                raise Unreadable(name, f"is larger than the {limit} byte limit")
            yield chunk


def read_small(folder: Path, name: str, limit: int = MAX_SMALL_FILE) -> bytes:
    """A whole file a check parses; refused when it is not regular or over `limit`."""
    return b"".join(_chunks(folder, name, limit))


def sha256_file(
    folder: Path, name: str, limit: int = DEFAULT_MAX_FILE, prefix: bytes = b"", skip: int = 0
) -> str:
    """SHA-256 (hex) of `prefix` followed by the file from byte `skip` on, read in chunks."""
    digest = hashlib.sha256(prefix)
    position = 0
    for chunk in _chunks(folder, name, limit):
        if position + len(chunk) > skip:
            digest.update(chunk[max(0, skip - position):])
        position += len(chunk)
    return digest.hexdigest()


def file_size(folder: Path, name: str) -> int:
    try:
        info = (folder / _checked_name(name)).lstat()
    except OSError:
        raise Unreadable(name, "is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise Unreadable(name, f"is {_kind(info.st_mode)}: refused unread")
    return info.st_size


def read_range(folder: Path, name: str, start: int, length: int) -> bytes:
    """`length` bytes from `start` (a sealed file's header), without reading the rest."""
    out = bytearray()
    position = 0
    for chunk in _chunks(folder, name, DEFAULT_MAX_FILE):
        if position + len(chunk) > start:
            out += chunk[max(0, start - position):]
        position += len(chunk)
        if position >= start + length:
            break
    return bytes(out[:length])


def stream(
    folder: Path, name: str, skip: int = 0, limit: int = DEFAULT_MAX_FILE
) -> Iterator[bytes]:
    """The file from byte `skip` on, in chunks."""
    position = 0
    for chunk in _chunks(folder, name, limit):
        if position + len(chunk) > skip:
            yield chunk[max(0, skip - position):]
        position += len(chunk)
