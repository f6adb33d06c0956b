"""Custody records: a signed manifest of a report's sealed items, verifiable with openssl.

The manifest lists each item's payload size and SHA-256 (of the ciphertext payload, which never
changes when headers are re-wrapped), in canonical JSON, signed with the server's Ed25519 key.
Anyone can check it with `openssl pkeyutl -verify -pubin -inkey custody.pub.pem -rawin ...`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from crypto import _primitives

MANIFEST_FORMAT = "incident-intake/custody/v1"


@dataclass(frozen=True)
class ManifestEntry:
    seq: int
    role: str
    payload_size: int
    payload_sha256: str


def canonical_manifest(
    report_id: str, received_day: str, entries: Sequence[ManifestEntry]
) -> bytes:
    document = {
        "format": MANIFEST_FORMAT,
        "report": report_id,
        "received_day": received_day,
        "items": [
            {
                "seq": e.seq,
                "role": e.role,
                "payload_size": e.payload_size,
                "payload_sha256": e.payload_sha256,
            }
            for e in entries
        ],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")


def sign_manifest(custody_key: bytes, manifest: bytes) -> bytes:
    return _primitives.ed25519_sign(custody_key, manifest)


def verify_manifest(custody_public: bytes, manifest: bytes, signature: bytes) -> bool:
    return _primitives.ed25519_verify(custody_public, signature, manifest)


def custody_public_key(custody_key: bytes) -> bytes:
    return _primitives.ed25519_public(custody_key)


def custody_public_pem(custody_key: bytes) -> bytes:
    return _primitives.ed25519_public_pem(_primitives.ed25519_public(custody_key))


# DER SubjectPublicKeyInfo of an Ed25519 key: this prefix, then the 32 raw bytes (RFC 8410).
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def custody_public_from_pem(pem: bytes) -> bytes:
    """The raw public key of a PEM Ed25519 public key; ValueError if it is not one."""
    return _primitives.ed25519_public_from_pem(pem)


def custody_fingerprint(custody_public: bytes) -> str:
    """SHA-256 (hex) of the key's DER SubjectPublicKeyInfo: what the organisation publishes,
    and what `openssl pkey -pubin -in custody.pub.pem -outform DER | sha256sum` prints."""
    if len(custody_public) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return hashlib.sha256(_ED25519_SPKI_PREFIX + custody_public).hexdigest()
