"""Receipt codes, submission keys and pseudonyms: keyed hashes so the server keeps no raw ids.

A receipt code is what the witness keeps to ask about a report later. It is 20 random digits in
groups of four: about 66 bits, typed on any phone keypad. The server stores only a *slow keyed*
hash of it: keyed, so a copied database alone is useless for guessing; slow (scrypt), so a copy
of the database *and* the server key still costs real work per guess.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from crypto.age import X25519Identity

RECEIPT_GROUPS = 5
_GROUP = 4
# scrypt cost: about 30 ms and 16 MiB per check on a small server; only /status pays it.
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


def receipt_hash(code: str, server_key: bytes) -> bytes:
    salt = _subkey(server_key, b"receipt-code")
    return hashlib.scrypt(code.encode("ascii"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=1, dklen=32)


def witness_identity(code: str, report_id: str, server_key: bytes) -> X25519Identity:
    """The age identity only the holder of a report's receipt code can derive (on the server).

    Reviewers seal messages for the witness to its public half (stored with the report); the
    witness's /status derives the private half from the code they type. Keyed by the server key,
    so a copy of the database alone cannot confirm a code found on a seized phone; slow
    (scrypt), so with the key too every guess still costs real work.
    """
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
