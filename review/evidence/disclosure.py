"""Plaintext bound to the proof: the decrypted files are exactly what the sealed payloads hold.

Each bundle carries a throwaway age identity (disclosure.key) and each item's header re-wrapped
to it (disclosure/NN-ROLE.header). For every item this check:

1. opens the disclosure header with disclosure.key (its MAC verifies under the file key it
   gives, k);
2. checks that k is the key the sealed file's own header was made with: that header's MAC is
   HMAC-SHA256 keyed from the file key, and HMAC commits to its key where ChaCha20-Poly1305
   does not. Without this, a forger could make a payload that decrypts under two keys to two
   different files (a Poly1305 multi-key collision) and disclose the second key;
3. decrypts the sealed payload, which manifest.json (timestamped) pins by SHA-256, with k, in
   chunks, and compares the SHA-256 of the result with the decrypted file in the bundle.

The sealed header itself is a leaf of its day's tree (anchor.py), so its MAC, and with it the
file key, was fixed by that tree's time: see docs/evidence-bundle.md.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crypto
from review.evidence.reading import Unreadable, read_range, read_small, sha256_file, stream

Problem = tuple[str, str]
KEY_FILE = "disclosure.key"


@dataclass(frozen=True)
class Disclosed:
    seq: int
    decrypted_file: str
    sha256: str


class _Hashing:
    """A writer that only hashes what it is given (the decrypted bytes are never kept)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)


class _Chunks:
    """A reader over a file's chunks from an offset (the sealed payload)."""

    def __init__(self, folder: Path, name: str, skip: int) -> None:
        self._chunks = stream(folder, name, skip)
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending += chunk
        if size < 0:
            out, self._pending = self._pending, b""
        else:
            out, self._pending = self._pending[:size], self._pending[size:]
        return out


def _identity(folder: Path) -> crypto.Identity:
    try:
        identities = crypto.parse_identities(read_small(folder, KEY_FILE).decode("ascii"))
    except (UnicodeDecodeError, ValueError, crypto.InvalidKeyError):
        raise Unreadable(KEY_FILE, "is not an age identity") from None
    if len(identities) != 1:
        raise Unreadable(KEY_FILE, "must hold exactly one age identity")
    return identities[0]


def disclosure_recipient(folder: Path) -> str:
    """The age recipient of the bundle's disclosure.key, derived from the identity itself
    (never from its comment line); Unreadable if there is no single X25519 identity."""
    identity = _identity(folder)
    if not isinstance(identity, crypto.X25519Identity):
        raise Unreadable(KEY_FILE, "is not an X25519 age identity")
    return str(identity.recipient)


def _entries(folder: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads(read_small(folder, "hashes.json"))
        return [e for e in document["items"] if isinstance(e, dict)]
    except (ValueError, KeyError, TypeError):
        raise Unreadable("hashes.json", "has no list of items") from None


def disclose(folder: Path) -> tuple[list[Disclosed], list[Problem]]:
    """What each item decrypts to with the disclosure identity, and every problem found."""
    identity = _identity(folder)
    found: list[Disclosed] = []
    problems: list[Problem] = []
    for entry in _entries(folder):
        sealed, header_name = str(entry.get("sealed_file")), str(entry.get("disclosure_header"))
        decrypted, size = str(entry.get("decrypted_file")), int(entry.get("header_bytes", 0))
        if not 0 < size <= 1 << 20:
            problems.append(("hashes.json", f"gives {sealed} an impossible header length"))
            continue
        try:
            file_key = crypto.header_file_key(read_small(folder, header_name), [identity])
        except crypto.DecryptionError:
            problems.append((header_name, f"does not open with {KEY_FILE}"))
            continue
        try:
            bound = crypto.header_binds_key(read_range(folder, sealed, 0, size), file_key)
        except crypto.DecryptionError:
            problems.append((sealed, "does not start with a well-formed age header"))
            continue
        if not bound:
            problems.append((header_name, (
                f"gives a file key that {sealed}'s own header was not made with (its MAC does "
                "not verify): a second key made to decrypt the same ciphertext to other bytes")))
            continue
        hashing = _Hashing()
        try:
            crypto.open_payload(file_key, _Chunks(folder, sealed, size), hashing)
        except crypto.DecryptionError:
            problems.append((sealed, f"its payload does not decrypt with the key {header_name} "
                                     "discloses"))
            continue
        digest = hashing.digest.hexdigest()
        found.append(Disclosed(int(entry.get("seq", -1)), decrypted, digest))
    return found, problems


def check_disclosure(folder: Path) -> list[Problem]:
    """Each decrypted file is exactly what its sealed payload decrypts to with disclosure.key."""
    found, problems = disclose(folder)
    return problems + compare(folder, found)


def compare(folder: Path, found: list[Disclosed]) -> list[Problem]:
    """The decrypted files that are not what their sealed payloads decrypt to."""
    problems: list[Problem] = []
    for item in found:
        if sha256_file(folder, item.decrypted_file) != item.sha256:
            problems.append((item.decrypted_file, (
                f"is not what its sealed file decrypts to with {KEY_FILE} (that has SHA-256 "
                f"{item.sha256})")))
    return problems
