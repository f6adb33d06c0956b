"""age identities and recipients: X25519 keys and scrypt passphrases.

A recipient *wraps* the file key into header stanzas; an identity *unwraps* it
from the stanzas addressed to it. See https://age-encryption.org/v1.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from . import _bech32
from . import _primitives as prim
from ._errors import DecryptionError, InvalidKeyError
from ._format import Stanza, b64decode, b64encode

FILE_KEY_SIZE: Final = 16
_WRAP_NONCE: Final = bytes(prim.CHACHA_NONCE_SIZE)
# A wrapped file key is 16 bytes plus the 16-byte tag. The spec requires
# checking this before decrypting, against partitioning-oracle attacks.
_WRAPPED_KEY_SIZE: Final = FILE_KEY_SIZE + prim.CHACHA_TAG_SIZE

_X25519_TYPE: Final = "X25519"
_X25519_INFO: Final = b"age-encryption.org/v1/X25519"
_RECIPIENT_HRP: Final = "age"
_IDENTITY_HRP: Final = "AGE-SECRET-KEY-"

_SCRYPT_TYPE: Final = "scrypt"
_SCRYPT_LABEL: Final = b"age-encryption.org/v1/scrypt"
_SCRYPT_SALT_SIZE: Final = 16
DEFAULT_SCRYPT_WORK_FACTOR: Final = 18
DEFAULT_MAX_SCRYPT_WORK_FACTOR: Final = 22
_WORK_FACTOR = re.compile(r"[1-9][0-9]*")

_KEYGEN_HINT: Final = "generate a key pair with age-keygen, or generate_identity()"


class Recipient(ABC):
    """Something the file key can be encrypted to."""

    @abstractmethod
    def wrap(self, file_key: bytes) -> list[Stanza]:
        """Stanzas that let the matching identity recover ``file_key``."""


class Identity(ABC):
    """Something that can recover the file key from a header's stanzas."""

    @abstractmethod
    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """The file key, or None if no stanza is for this identity.

        Raises DecryptionError("header") for a malformed stanza of this
        identity's own type: per the spec that aborts decryption.
        """


def _header_error() -> DecryptionError:
    return DecryptionError("header")


# --- X25519 ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class X25519Recipient(Recipient):
    """An ``age1...`` public key."""

    public_key: bytes

    def __post_init__(self) -> None:
        if len(self.public_key) != prim.X25519_KEY_SIZE:
            raise InvalidKeyError("an X25519 recipient is exactly 32 bytes")

    @classmethod
    def parse(cls, text: str) -> X25519Recipient:
        return parse_recipient(text)

    def __str__(self) -> str:
        return _bech32.encode(_RECIPIENT_HRP, self.public_key)

    def __repr__(self) -> str:
        return f"X25519Recipient({str(self)!r})"

    def wrap(self, file_key: bytes) -> list[Stanza]:
        share, shared = prim.x25519_ephemeral_exchange(self.public_key)
        if not any(shared):
            raise InvalidKeyError(
                "this recipient is not a usable X25519 public key (low-order point); "
                "ask its owner for the age1... line printed by age-keygen"
            )
        key = prim.hkdf_sha256(shared, salt=share + self.public_key, info=_X25519_INFO)
        body = prim.chacha_seal(key, _WRAP_NONCE, file_key)
        return [Stanza((_X25519_TYPE, b64encode(share)), body)]


class X25519Identity(Identity):
    """An ``AGE-SECRET-KEY-1...`` private key. Its repr never shows the secret."""

    __slots__ = ("_private", "_recipient")

    def __init__(self, private_key: bytes) -> None:
        if len(private_key) != prim.X25519_KEY_SIZE:
            raise InvalidKeyError("an X25519 identity is exactly 32 bytes")
        self._private = bytes(private_key)
        self._recipient = X25519Recipient(prim.x25519_public(self._private))

    @classmethod
    def parse(cls, text: str) -> X25519Identity:
        return _parse_identity(text)

    @property
    def recipient(self) -> X25519Recipient:
        return self._recipient

    def private_bytes(self) -> bytes:
        return self._private

    def __str__(self) -> str:
        return _bech32.encode(_IDENTITY_HRP, self._private)

    def __repr__(self) -> str:
        return f"X25519Identity(recipient={str(self._recipient)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, X25519Identity):
            return NotImplemented
        return prim.constant_time_equal(self._private, other._private)

    def __hash__(self) -> int:
        return hash(self._recipient)

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        ours = self._recipient.public_key
        for stanza in stanzas:
            if stanza.type != _X25519_TYPE:
                continue
            if len(stanza.args) != 2:
                raise _header_error()
            share = b64decode(stanza.args[1])
            if share is None or len(share) != prim.X25519_KEY_SIZE:
                raise _header_error()
            if len(stanza.body) != _WRAPPED_KEY_SIZE:
                raise _header_error()
            shared = prim.x25519_exchange(self._private, share)
            if not any(shared):
                raise _header_error()
            key = prim.hkdf_sha256(shared, salt=share + ours, info=_X25519_INFO)
            file_key = prim.chacha_open(key, _WRAP_NONCE, stanza.body)
            if file_key is not None:
                return file_key
        return None


def generate_identity() -> X25519Identity:
    """A fresh X25519 identity."""
    return X25519Identity(prim.x25519_generate())


def parse_recipient(text: str) -> X25519Recipient:
    """Parse an ``age1...`` recipient. Raises InvalidKeyError."""
    text = text.strip()
    upper = text.upper()
    if upper.startswith("AGE-SECRET-KEY-"):
        raise InvalidKeyError(
            "this is a secret key, not a recipient: never share it; use the public "
            "'age1...' line that age-keygen prints (or age-keygen -y KEYFILE)"
        )
    if upper.startswith("AGE1PQ1"):
        raise InvalidKeyError(
            "post-quantum (age1pq1...) recipients are not supported; use an X25519 "
            f"'age1...' recipient ({_KEYGEN_HINT})"
        )
    if text.startswith(("ssh-", "ecdsa-")):
        raise InvalidKeyError(
            f"SSH keys are not supported; use an 'age1...' recipient ({_KEYGEN_HINT})"
        )
    try:
        hrp, data = _bech32.decode(text)
    except _bech32.Bech32Error:
        raise InvalidKeyError(
            "not a valid age recipient: expected 'age1' followed by 58 lowercase letters and "
            "digits, as printed by age-keygen; check for a copy/paste error"
        ) from None
    if hrp != _RECIPIENT_HRP or len(data) != prim.X25519_KEY_SIZE:
        raise InvalidKeyError(
            "not an X25519 age recipient: expected a lowercase 'age1...' public key "
            f"({_KEYGEN_HINT})"
        )
    return X25519Recipient(data)


def _parse_identity(text: str) -> X25519Identity:
    text = text.strip()
    if text.upper().startswith("AGE-SECRET-KEY-PQ-"):
        raise InvalidKeyError(
            "post-quantum (AGE-SECRET-KEY-PQ-...) identities are not supported; "
            f"use an X25519 identity ({_KEYGEN_HINT})"
        )
    if text.upper().startswith("AGE-PLUGIN-"):
        raise InvalidKeyError("age plugin identities are not supported")
    try:
        hrp, data = _bech32.decode(text)
    except _bech32.Bech32Error:
        hrp, data = "", b""
    if hrp != _IDENTITY_HRP or len(data) != prim.X25519_KEY_SIZE:
        raise InvalidKeyError(
            "not a valid age identity: expected one uppercase 'AGE-SECRET-KEY-1...' key "
            f"per line, as written by age-keygen ({_KEYGEN_HINT})"
        )
    return X25519Identity(data)


def parse_identities(text: str) -> list[Identity]:
    """Parse an age-keygen identity file: keys, ``#`` comments and blank lines."""
    stripped = text.lstrip()
    if stripped.startswith(("age-encryption.org/", "-----BEGIN AGE ENCRYPTED FILE")):
        raise InvalidKeyError(
            "this identity file is itself age-encrypted; decrypt it first (for a "
            "passphrase, with ScryptIdentity) and parse the result"
        )
    identities: list[Identity] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(_parse_identity(line))
        except InvalidKeyError as exc:
            raise InvalidKeyError(f"identity file line {number}: {exc}") from None
    if not identities:
        raise InvalidKeyError(f"no identities found in the identity file ({_KEYGEN_HINT})")
    return identities


def key_id(recipient: X25519Recipient | str) -> str:
    """A short public fingerprint: 16 hex chars of SHA-256 of the ``age1...`` string."""
    if isinstance(recipient, str):
        recipient = parse_recipient(recipient)
    return hashlib.sha256(str(recipient).encode("ascii")).hexdigest()[:16]


# --- scrypt -----------------------------------------------------------------------


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    data = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
    if not data:
        raise ValueError("the passphrase must not be empty")
    return data


def _scrypt_key(passphrase: bytes, salt: bytes, log_n: int) -> bytes:
    return prim.scrypt(passphrase, _SCRYPT_LABEL + salt, log_n)


@dataclass(frozen=True, eq=False)
class ScryptRecipient(Recipient):
    """Encrypt to a passphrase. age requires it to be the file's only recipient."""

    passphrase: str | bytes = field(repr=False)
    work_factor: int = DEFAULT_SCRYPT_WORK_FACTOR

    def __post_init__(self) -> None:
        _passphrase_bytes(self.passphrase)
        if not 1 <= self.work_factor <= 30:
            raise ValueError("the scrypt work factor (log2 N) must be between 1 and 30")

    def wrap(self, file_key: bytes) -> list[Stanza]:
        salt = prim.random_bytes(_SCRYPT_SALT_SIZE)
        key = _scrypt_key(_passphrase_bytes(self.passphrase), salt, self.work_factor)
        body = prim.chacha_seal(key, _WRAP_NONCE, file_key)
        return [Stanza((_SCRYPT_TYPE, b64encode(salt), str(self.work_factor)), body)]


@dataclass(frozen=True, eq=False)
class ScryptIdentity(Identity):
    """Decrypt with a passphrase (passphrase-encrypted files and identity files).

    ``max_work_factor`` bounds the time and memory a hostile file can make us
    spend: each step doubles both (22 means about 4 GiB of scrypt memory).
    """

    passphrase: str | bytes = field(repr=False)
    max_work_factor: int = DEFAULT_MAX_SCRYPT_WORK_FACTOR

    def __post_init__(self) -> None:
        _passphrase_bytes(self.passphrase)

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != _SCRYPT_TYPE:
                continue
            if len(stanzas) != 1 or len(stanza.args) != 3:
                raise _header_error()
            salt = b64decode(stanza.args[1])
            if salt is None or len(salt) != _SCRYPT_SALT_SIZE:
                raise _header_error()
            if _WORK_FACTOR.fullmatch(stanza.args[2]) is None:
                raise _header_error()
            # Compare lengths first so an absurdly long number costs nothing.
            if len(stanza.args[2]) > 3 or int(stanza.args[2]) > self.max_work_factor:
                raise _header_error()
            if len(stanza.body) != _WRAPPED_KEY_SIZE:
                raise _header_error()
            key = _scrypt_key(_passphrase_bytes(self.passphrase), salt, int(stanza.args[2]))
            return prim.chacha_open(key, _WRAP_NONCE, stanza.body)
        return None
