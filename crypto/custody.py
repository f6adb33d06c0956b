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


ROTATION_FORMAT = "incident-intake/custody-rotation/v1"


def rotation_record(previous_key: bytes, next_key: bytes, day: str) -> bytes:
    """One line of custody-rotations.jsonl: the statement "`next` succeeds `previous`" (canonical
    JSON), signed by both private keys. The previous key's signature says its holder handed
    over; the next key's that its holder claims that predecessor. A verifier that pins either
    key accepts the other through this line, and old bundles keep verifying after a rotation."""
    previous_public, next_public = custody_public_key(previous_key), custody_public_key(next_key)
    statement = json.dumps({
        "format": ROTATION_FORMAT, "day": day,
        "previous": custody_fingerprint(previous_public), "previous_key": previous_public.hex(),
        "next": custody_fingerprint(next_public), "next_key": next_public.hex(),
    }, sort_keys=True, separators=(",", ":"))
    data = statement.encode("ascii")
    return json.dumps({
        "statement": statement,
        "previous_signature": sign_manifest(previous_key, data).hex(),
        "next_signature": sign_manifest(next_key, data).hex(),
    }, sort_keys=True, separators=(",", ":")).encode("ascii") + b"\n"


def rotation_link(line: bytes) -> tuple[str, str] | None:
    """(previous fingerprint, next fingerprint) of a rotation line whose two signatures both
    verify, or None."""
    try:
        record = json.loads(line)
        data = str(record["statement"]).encode("ascii")
        statement = json.loads(data)
        previous = bytes.fromhex(statement["previous_key"])
        successor = bytes.fromhex(statement["next_key"])
        signatures = (bytes.fromhex(record["previous_signature"]),
                      bytes.fromhex(record["next_signature"]))
        if statement.get("format") != ROTATION_FORMAT:
            return None
        if not (verify_manifest(previous, data, signatures[0])
                and verify_manifest(successor, data, signatures[1])):
            return None
        return custody_fingerprint(previous), custody_fingerprint(successor)
    except (ValueError, KeyError, TypeError, UnicodeEncodeError):
        return None
