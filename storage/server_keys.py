"""The server's own secrets, kept as 0600 files in the data directory.

None of them can decrypt a report: `server.key` keys the hashes of receipt codes and submission
ids, and `custody.key` signs custody manifests. Losing them means old receipt codes stop working
and new custody signatures use a new key; it never makes a report unreadable.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

_KEY_BYTES = 32


class KeyFileError(ValueError):
    """A key file that cannot be used as it is: one line naming the fix."""


@dataclass(frozen=True)
class ServerKeys:
    hash_key: bytes
    custody_key: bytes  # raw Ed25519 private key (32 bytes)


def load_or_create_server_keys(data_dir: Path) -> ServerKeys:
    key_dir = data_dir / "keys"
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return ServerKeys(
        hash_key=_load_or_create(key_dir / "server.key"),
        custody_key=_load_or_create(key_dir / "custody.key"),
    )


def _load_or_create(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = _create(path)
    refuse_if_others_can_read(path)
    if len(data) != _KEY_BYTES:
        raise KeyFileError(
            f"{path} is damaged (expected {_KEY_BYTES} bytes): restore it from backup, or move it "
            "away to create a new one (old receipt codes then stop working)"
        )
    return data


def _create(path: Path) -> bytes:
    """Write a new key whole under a temporary name, then link it into place.

    Several workers may start at once on one data directory: the link is atomic, so each finds
    either no key or a complete one, and all of them use the first one written.
    """
    data = secrets.token_bytes(_KEY_BYTES)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_bytes()  # another worker was first
    finally:
        temporary.unlink(missing_ok=True)
    return data


def refuse_if_others_can_read(path: Path, what: str = "key file") -> None:
    """As ssh does with private keys: a secret that group or others may read (or write) is
    refused, since whoever else could read it may already have."""
    mode = path.stat().st_mode
    if mode & 0o077:
        raise KeyFileError(
            f"the {what} {path} is open to group or others (mode {mode & 0o777:04o}): run "
            f"`chmod 600 {path}` and check who could have copied it"
        )
