"""Minimal byte-stream plumbing shared by the header, armor and STREAM layers."""

from __future__ import annotations

from typing import Protocol

_FILL_SIZE = 8192


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


def read_full(src: Readable, n: int) -> bytes:
    """Exactly ``n`` bytes, or fewer only at end of input.

    Pipes, sockets and raw files may return short reads before the end; treating
    a short read as EOF would misplace chunk boundaries.
    """
    first = src.read(n)
    if len(first) == n or not first:
        return first
    parts = bytearray(first)
    while len(parts) < n:
        more = src.read(n - len(parts))
        if not more:
            break
        parts += more
    return bytes(parts)


class Source:
    """A reader with line reads and a small look-ahead over any ``read(n)`` object.

    Everything downstream reads through one Source, so bytes fetched ahead of
    need (to find a line end) are never lost.
    """

    __slots__ = ("_buf", "_raw")

    def __init__(self, raw: Readable) -> None:
        self._raw = raw
        self._buf = bytearray()

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or fewer only at end of input."""
        if len(self._buf) >= n:
            out = bytes(self._buf[:n])
            del self._buf[:n]
            return out
        head = bytes(self._buf)
        self._buf.clear()
        return head + read_full(self._raw, n - len(head))

    def peek(self, n: int) -> bytes:
        """Up to ``n`` upcoming bytes, without consuming them."""
        if len(self._buf) < n:
            self._buf += read_full(self._raw, n - len(self._buf))
        return bytes(self._buf[:n])

    def readline(self, limit: int) -> bytes:
        """Bytes through the next LF, or ``limit`` bytes, or up to end of input."""
        start = 0
        while True:
            end = self._buf.find(b"\n", start, limit)
            if end >= 0:
                return self.read(end + 1)
            if len(self._buf) >= limit:
                return self.read(limit)
            start = len(self._buf)
            more = self._raw.read(_FILL_SIZE)
            if not more:
                return self.read(len(self._buf))
            self._buf += more
