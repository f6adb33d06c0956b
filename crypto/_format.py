"""The age v1 header and the ASCII armor, parsed strictly.

Strictness is the point: every accepted header has exactly one encoding, so the
MAC (computed over the bytes as received) also covers the parsed meaning, and
armored files are not malleable.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ._errors import DecryptionError
from ._io import Source, Writable

VERSION_LINE: Final = b"age-encryption.org/v1\n"
_VERSION_PREFIX: Final = b"age-encryption.org/"
_STANZA_PREFIX: Final = b"-> "
_MAC_PREFIX: Final = b"---"
COLUMNS: Final = 64
# Headers are small (about 100 bytes per X25519 recipient); the cap only stops a
# hostile file from making the reader buffer unbounded "lines".
MAX_HEADER_SIZE: Final = 1 << 20

_B64_LINE = re.compile(rb"[A-Za-z0-9+/]*")
_MAC_LINE = re.compile(rb"--- ([A-Za-z0-9+/]{43})\n")
_ARG = re.compile(r"[\x21-\x7e]+")


# --- base64 -------------------------------------------------------------------


def b64encode(data: bytes) -> str:
    """Canonical, unpadded standard base64."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64decode(text: str | bytes) -> bytes | None:
    """Decode canonical unpadded base64; None for anything else."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    if _B64_LINE.fullmatch(raw) is None or len(raw) % 4 == 1:
        return None
    data = base64.b64decode(raw + b"=" * (-len(raw) % 4))
    # Re-encoding catches non-zero trailing bits, which base64 would otherwise
    # silently drop, making two strings decode to the same bytes.
    if b64encode(data).encode("ascii") != raw:
        return None
    return data


# --- header -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stanza:
    """One recipient stanza: ``args[0]`` is its type, ``body`` the decoded body."""

    args: tuple[str, ...]
    body: bytes

    def __post_init__(self) -> None:
        if not self.args or any(_ARG.fullmatch(a) is None for a in self.args):
            raise ValueError("stanza arguments must be non-empty printable ASCII words")

    @property
    def type(self) -> str:
        return self.args[0]


@dataclass(frozen=True, slots=True)
class Header:
    stanzas: tuple[Stanza, ...]
    mac: bytes
    # The exact bytes the MAC covers: from the version line through "---".
    mac_input: bytes

    def encode(self) -> bytes:
        return encode_header(self.stanzas, self.mac)


def _header_error() -> DecryptionError:
    return DecryptionError("header")


def encode_stanza(stanza: Stanza) -> bytes:
    body = b64encode(stanza.body)
    lines = [body[i : i + COLUMNS] for i in range(0, len(body), COLUMNS)]
    if len(body) % COLUMNS == 0:
        # The body ends at the first short line, so a body filling its last line
        # exactly (or empty) needs an explicit empty one.
        lines.append("")
    text = "-> " + " ".join(stanza.args) + "\n" + "".join(line + "\n" for line in lines)
    return text.encode("ascii")


def encode_header_without_mac(stanzas: tuple[Stanza, ...] | list[Stanza]) -> bytes:
    """The MAC input: version line, stanzas, and the ``---`` marker."""
    return VERSION_LINE + b"".join(encode_stanza(s) for s in stanzas) + _MAC_PREFIX


def encode_header(stanzas: tuple[Stanza, ...] | list[Stanza], mac: bytes) -> bytes:
    return encode_header_without_mac(stanzas) + b" " + b64encode(mac).encode("ascii") + b"\n"


def read_header(src: Source) -> tuple[Header, bytes]:
    """Parse one header from ``src``; return it and its exact bytes.

    Leaves ``src`` positioned at the first payload byte.
    """
    raw = bytearray()

    def line() -> bytes:
        budget = MAX_HEADER_SIZE - len(raw)
        if budget <= 0:
            raise _header_error()
        got = src.readline(budget)
        if not got.endswith(b"\n"):
            raise _header_error()
        raw.extend(got)
        return got

    if line() != VERSION_LINE:
        # Covers other versions ("age-encryption.org/v2") as well as garbage.
        raise _header_error()
    stanzas: list[Stanza] = []
    while True:
        current = line()
        if current.startswith(_STANZA_PREFIX):
            stanzas.append(_read_stanza(current, line))
        elif current.startswith(_MAC_PREFIX):
            match = _MAC_LINE.fullmatch(current)
            mac = b64decode(match.group(1)) if match else None
            if mac is None or not stanzas:
                raise _header_error()
            mac_input = bytes(raw[: len(raw) - len(current) + len(_MAC_PREFIX)])
            return Header(tuple(stanzas), mac, mac_input), bytes(raw)
        else:
            raise _header_error()


def _read_stanza(arg_line: bytes, next_line: Callable[[], bytes]) -> Stanza:
    try:
        args = tuple(arg_line[len(_STANZA_PREFIX) : -1].decode("ascii").split(" "))
    except UnicodeDecodeError:
        raise _header_error() from None
    if any(_ARG.fullmatch(a) is None for a in args):
        raise _header_error()
    body_lines: list[bytes] = []
    while True:
        content = next_line()[:-1]
        if len(content) > COLUMNS or _B64_LINE.fullmatch(content) is None:
            raise _header_error()
        body_lines.append(content)
        if len(content) < COLUMNS:
            break
    body = b64decode(b"".join(body_lines))
    if body is None:
        raise _header_error()
    return Stanza(args, body)


def parse_header(data: bytes) -> tuple[Header, int]:
    """Parse a header at the start of ``data``; return it and the payload offset."""
    header, raw = read_header(Source(io.BytesIO(data)))
    return header, len(raw)


# --- ASCII armor --------------------------------------------------------------

ARMOR_BEGIN: Final = b"-----BEGIN AGE ENCRYPTED FILE-----"
ARMOR_END: Final = b"-----END AGE ENCRYPTED FILE-----"
_ARMOR_BYTES_PER_LINE: Final = COLUMNS // 4 * 3
_WHITESPACE: Final = b" \t\r\n"
# How much leading whitespace we look through to spot an armored file.
_MAX_LEADING_WHITESPACE: Final = 1024
_ARMOR_LINE = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def looks_armored(src: Source) -> bool:
    """Whether ``src`` starts (after optional whitespace) with a PEM-style line."""
    head = src.peek(_MAX_LEADING_WHITESPACE + len(ARMOR_BEGIN))
    # Any "-----" start means armor was intended: a binary header cannot start
    # so, and reporting an armor error there is the more useful diagnosis.
    return head.lstrip(_WHITESPACE).startswith(b"-----")


def _armor_error() -> DecryptionError:
    return DecryptionError("armor")


class ArmorReader:
    """Streaming decoder for the strict PEM armor of RFC 7468 as age uses it.

    Accepted: whitespace before BEGIN and after END, LF or CRLF line ends (one
    style per file). Everything else must be canonical: 64-column lines, one
    shorter final line, padded canonical base64, no headers or blank lines.
    """

    def __init__(self, src: Source) -> None:
        self._src = src
        self._pending = b""
        self._finished = False
        self._saw_final_line = False
        while (c := src.peek(1)) and c in _WHITESPACE:
            src.read(1)
        first = src.readline(len(ARMOR_BEGIN) + 2)
        if first == ARMOR_BEGIN + b"\n":
            self._eol = b"\n"
        elif first == ARMOR_BEGIN + b"\r\n":
            self._eol = b"\r\n"
        else:
            raise _armor_error()

    def read(self, size: int, /) -> bytes:
        parts = [self._pending]
        available = len(self._pending)
        while available < size and not self._finished:
            block = self._next_block()
            parts.append(block)
            available += len(block)
        # One join per call: appending 48-byte lines to a growing bytes object
        # would copy the whole chunk for every line.
        data = b"".join(parts)
        self._pending = data[size:]
        return data[:size]

    def _next_block(self) -> bytes:
        line = self._src.readline(COLUMNS + len(self._eol))
        if line.rstrip(b"\r\n") == ARMOR_END:
            self._finish(line)
            return b""
        if self._saw_final_line or not line.endswith(self._eol):
            raise _armor_error()
        content = line[: -len(self._eol)]
        if not content or len(content) % 4 or _ARMOR_LINE.fullmatch(content) is None:
            raise _armor_error()
        if len(content) < COLUMNS or content.endswith(b"="):
            self._saw_final_line = True
        try:
            data = binascii.a2b_base64(content, strict_mode=True)
        except binascii.Error:
            raise _armor_error() from None
        if base64.b64encode(data) != content:
            raise _armor_error()
        return data

    def _finish(self, end_line: bytes) -> None:
        if end_line not in (ARMOR_END + self._eol, ARMOR_END):
            raise _armor_error()
        # Only whitespace may follow; read it in bounded pieces.
        while rest := self._src.read(4096):
            if rest.strip(_WHITESPACE):
                raise _armor_error()
        self._finished = True


class ArmorWriter:
    """Streaming encoder producing what ``age -a`` produces."""

    def __init__(self, dst: Writable) -> None:
        self._dst = dst
        self._pending = bytearray()
        dst.write(ARMOR_BEGIN + b"\n")

    def write(self, data: bytes, /) -> int:
        self._pending += data
        whole = len(self._pending) - len(self._pending) % _ARMOR_BYTES_PER_LINE
        if whole:
            encoded = base64.b64encode(bytes(self._pending[:whole]))
            del self._pending[:whole]
            self._dst.write(
                b"".join(encoded[i : i + COLUMNS] + b"\n" for i in range(0, len(encoded), COLUMNS))
            )
        return len(data)

    def close(self) -> None:
        if self._pending:
            self._dst.write(base64.b64encode(bytes(self._pending)) + b"\n")
            self._pending.clear()
        self._dst.write(ARMOR_END + b"\n")
