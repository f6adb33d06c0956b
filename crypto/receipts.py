"""Receipt codes, submission keys and pseudonyms: keyed hashes so the server keeps no raw ids.

A receipt code is what the witness keeps to ask about a report later. It is 20 uniformly random
digits in groups of four: about 66 bits, typed on any phone keypad. The server never stores
the code. From the code and the server's hash key it derives, with one HMAC, a *receipt secret*
and from that (HKDF-style expansion) two values:

- the **lookup hash** stored with the report, by which /status finds it, and
- the seed of the **witness identity**, the X25519 key whose public half reviewers seal their
  messages for the witness to.

Keyed, so a copied database alone is useless for guessing or for confirming a code found on a
seized phone. Not slow: searching 2^66 codes is out of reach without a slow hash, and a slow
hash on every report and every /status attempt lets anyone make the server burn CPU
(docs/threat-model.md weighs this).

Codes issued before this scheme were hashed with scrypt (``legacy_*`` below). Their stored
lookup hashes are 32 bytes; the current scheme's carry a one-byte scheme marker in front, so
the store can tell whether any legacy report is left and the scrypt path can close for good.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from crypto.age import X25519Identity

RECEIPT_GROUPS = 5
_GROUP = 4
# The first byte of every lookup hash of the current scheme; legacy (scrypt) hashes have none
# and are exactly 32 bytes long.
RECEIPT_SCHEME_V2 = b"\x02"
LEGACY_RECEIPT_HASH_LENGTH = 32
# scrypt cost of the legacy scheme: about 30 ms and 16 MiB per check on a small server.
_SCRYPT_N = 2**14
_SCRYPT_R = 8


def new_receipt_code() -> str:
    digits = f"{secrets.randbelow(10 ** (RECEIPT_GROUPS * _GROUP)):0{RECEIPT_GROUPS * _GROUP}d}"
    return "-".join(digits[i : i + _GROUP] for i in range(0, len(digits), _GROUP))


def normalise_receipt_code(text: str) -> str | None:
    """Accept what a person types (spaces, dashes, none); None when it cannot be a code."""
    digits = "".join(ch for ch in text if ch.isdigit() and ch.isascii())
    others = [ch for ch in text if not (ch.isdigit() and ch.isascii()) and ch not in " -"]
    if others or len(digits) != RECEIPT_GROUPS * _GROUP:
        return None
    return "-".join(digits[i : i + _GROUP] for i in range(0, len(digits), _GROUP))


@dataclass(frozen=True)
class ReceiptKeys:
    """What the server derives from a receipt code: the lookup hash and the witness identity."""

    lookup_hash: bytes
    witness: X25519Identity


def receipt_keys(code: str, server_key: bytes) -> ReceiptKeys:
    """Derive the lookup hash and the witness identity from one keyed hash of the code.

    About two microseconds: cheap enough for every report and every /status attempt.
    """
    secret = hmac.new(_subkey(server_key, b"receipt/v2"), code.encode("ascii"), "sha256").digest()
    lookup = hmac.new(secret, b"incident-intake/receipt/v2/lookup", "sha256").digest()
    seed = hmac.new(secret, b"incident-intake/receipt/v2/witness-key", "sha256").digest()
    return ReceiptKeys(RECEIPT_SCHEME_V2 + lookup, X25519Identity(seed))


def is_legacy_receipt_hash(stored: bytes) -> bool:
    return len(stored) == LEGACY_RECEIPT_HASH_LENGTH


def legacy_receipt_hash(code: str, server_key: bytes) -> bytes:
    """The scrypt lookup hash of codes issued before `receipt_keys` (about 30 ms per call)."""
    salt = _subkey(server_key, b"receipt-code")
    return hashlib.scrypt(code.encode("ascii"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=1, dklen=32)


def legacy_witness_identity(code: str, report_id: str, server_key: bytes) -> X25519Identity:
    """The witness identity of a report whose code was issued before `receipt_keys` (scrypt)."""
    seed = hashlib.scrypt(
        code.encode("ascii"),
        salt=_subkey(server_key, b"witness-key/" + report_id.encode("ascii")),
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=1,
        dklen=32,
    )
    return X25519Identity(seed)


def submission_key(server_key: bytes, submission: str) -> bytes:
    """A stable keyed id for one submission (e.g. a Telegram update), not reversible to it."""
    return hmac.new(_subkey(server_key, b"submission"), submission.encode(), "sha256").digest()


def pseudonym(key: bytes, identifier: int | str) -> str:
    """A keyed pseudonym for a chat or user id; with a rotating key, it cannot be linked later."""
    return hmac.new(key, str(identifier).encode(), "sha256").hexdigest()[:32]


def _subkey(server_key: bytes, label: bytes) -> bytes:
    return hmac.new(server_key, b"incident-intake/" + label, "sha256").digest()
