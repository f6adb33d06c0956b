"""Loading a reviewer's identity file on the reviewer's machine.

Accepts what `age-keygen` writes (AGE-SECRET-KEY-1... lines with comments) and the same file
encrypted with a passphrase by `age -p` (age's scrypt format), which is what we recommend.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import crypto

_AGE_PREFIXES = (b"age-encryption.org/v1", b"-----BEGIN AGE ENCRYPTED FILE-----")


class IdentityFileError(Exception):
    pass


def load_identities(path: Path, ask_passphrase: Callable[[], str]) -> list[crypto.Identity]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise IdentityFileError(f"cannot read identity file {path}: {error.strerror}") from None
    if raw.lstrip().startswith(_AGE_PREFIXES):
        plain = io.BytesIO()
        try:
            crypto.decrypt(io.BytesIO(raw), plain, [crypto.ScryptIdentity(ask_passphrase())])
        except crypto.DecryptionError:
            raise IdentityFileError(
                f"could not unlock {path}: wrong passphrase, or not an age identity file"
            ) from None
        raw = plain.getvalue()
    try:
        identities = crypto.parse_identities(raw.decode("utf-8"))
    except (UnicodeDecodeError, crypto.InvalidKeyError):
        raise IdentityFileError(
            f"{path} is not an age identity file (expected AGE-SECRET-KEY-1... lines, as "
            "written by `age-keygen` or `intake keys new`)"
        ) from None
    if not identities:
        raise IdentityFileError(f"{path} holds no AGE-SECRET-KEY-1... identity")
    return identities
