"""The two exceptions of the crypto package.

Kept in their own module so every layer (format, stream, recipients) can raise
them without import cycles.
"""

from __future__ import annotations

from typing import Final, Literal

Reason = Literal["header", "hmac", "no_match", "payload", "armor"]

_GENERIC_MESSAGE: Final = (
    "the encrypted data could not be opened: no matching key, or the data is damaged or "
    "was tampered with"
)


class DecryptionError(Exception):
    """Any failure to open or rewrap age-encrypted data.

    Deliberately opaque: telling a caller (or a log reader) *which* check failed
    helps an attacker probing the decryptor, so ``str()`` is always the same
    sentence. ``reason`` exists for tests and metrics only and must not be shown
    to users.
    """

    reason: Reason

    def __init__(self, reason: Reason) -> None:
        super().__init__(_GENERIC_MESSAGE)
        self.reason = reason

    def __repr__(self) -> str:
        return f"DecryptionError({_GENERIC_MESSAGE!r})"

    def __reduce__(self) -> tuple[type[DecryptionError], tuple[Reason]]:
        # Exceptions pickle as cls(*args); args holds the message, not the reason.
        return (DecryptionError, (self.reason,))


class InvalidKeyError(ValueError):
    """A recipient or identity string that cannot be parsed.

    Messages explain how to fix the input but never repeat it: the input may be
    a secret key pasted in the wrong place.
    """
