"""Thin, named wrappers over the ``cryptography`` library.

This is the only module of the package that touches ``cryptography.hazmat``, so
that reviewing which primitives are used, and how, means reading one file.
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import constant_time, hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

X25519_KEY_SIZE: Final = 32
CHACHA_KEY_SIZE: Final = 32
CHACHA_NONCE_SIZE: Final = 12
CHACHA_TAG_SIZE: Final = 16
ED25519_KEY_SIZE: Final = 32


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


# --- X25519 -----------------------------------------------------------------


def x25519_generate() -> bytes:
    """A fresh raw 32-byte X25519 private key."""
    return X25519PrivateKey.generate().private_bytes_raw()


def x25519_public(private_raw: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private_raw).public_key().public_bytes_raw()


def x25519_exchange(private_raw: bytes, peer_public_raw: bytes) -> bytes:
    """The raw shared secret; all zero bytes for a low-order peer point.

    OpenSSL refuses low-order points with an exception; mapping that to the
    all-zero value lets callers apply the age rule ("abort on all-zero") in one
    place whatever the backend does.
    """
    private = X25519PrivateKey.from_private_bytes(private_raw)
    peer = X25519PublicKey.from_public_bytes(peer_public_raw)
    try:
        return private.exchange(peer)
    except ValueError:
        return bytes(X25519_KEY_SIZE)


def x25519_ephemeral_exchange(peer_public_raw: bytes) -> tuple[bytes, bytes]:
    """(public share, shared secret) for a fresh ephemeral key; zeros if low-order.

    One key object for both steps: re-loading a raw private key makes OpenSSL
    recompute its public point, which would double the cost of each wrap.
    """
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(peer_public_raw))
    except ValueError:
        shared = bytes(X25519_KEY_SIZE)
    return share, shared


# --- ChaCha20-Poly1305 --------------------------------------------------------


class Aead:
    """ChaCha20-Poly1305 under one key, reused across many chunks."""

    __slots__ = ("_cipher",)

    def __init__(self, key: bytes) -> None:
        self._cipher = ChaCha20Poly1305(key)

    def seal(self, nonce: bytes, plaintext: bytes) -> bytes:
        return self._cipher.encrypt(nonce, plaintext, None)

    def open(self, nonce: bytes, ciphertext: bytes) -> bytes | None:
        """The plaintext, or None when authentication fails."""
        try:
            return self._cipher.decrypt(nonce, ciphertext, None)
        except InvalidTag:
            return None


def chacha_seal(key: bytes, nonce: bytes, plaintext: bytes) -> bytes:
    return Aead(key).seal(nonce, plaintext)


def chacha_open(key: bytes, nonce: bytes, ciphertext: bytes) -> bytes | None:
    return Aead(key).open(nonce, ciphertext)


def chacha_seal_with_ad(key: bytes, nonce: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """ChaCha20-Poly1305 with associated data: the tag also covers `associated`."""
    return ChaCha20Poly1305(key).encrypt(nonce, plaintext, associated)


def chacha_open_with_ad(
    key: bytes, nonce: bytes, ciphertext: bytes, associated: bytes
) -> bytes | None:
    """The plaintext, or None when the tag does not match ciphertext and associated data."""
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ciphertext, associated)
    except InvalidTag:
        return None


# --- KDFs and MACs ------------------------------------------------------------


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return constant_time.bytes_eq(a, b)


def hmac_sha256_verify(key: bytes, data: bytes, expected: bytes) -> bool:
    return constant_time_equal(hmac_sha256(key, data), expected)


def scrypt(passphrase: bytes, salt: bytes, log_n: int, length: int = 32) -> bytes:
    """scrypt with r=8, p=1 (the age parameters); N = 2**log_n."""
    return Scrypt(salt=salt, length=length, n=1 << log_n, r=8, p=1).derive(passphrase)


# --- Ed25519 (for custody signatures) -----------------------------------------


def ed25519_generate() -> bytes:
    """A fresh raw 32-byte Ed25519 private key (the RFC 8032 seed)."""
    return Ed25519PrivateKey.generate().private_bytes_raw()


def ed25519_public(private_raw: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(private_raw).public_key().public_bytes_raw()


def ed25519_sign(private_raw: bytes, data: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(private_raw).sign(data)


def ed25519_verify(public_raw: bytes, signature: bytes, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def ed25519_private_pem(private_raw: bytes) -> bytes:
    """PEM, PKCS#8, unencrypted: callers are expected to store it encrypted."""
    return Ed25519PrivateKey.from_private_bytes(private_raw).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ed25519_public_pem(public_raw: bytes) -> bytes:
    """PEM SubjectPublicKeyInfo, as ``openssl pkey -pubout`` would print it."""
    return Ed25519PublicKey.from_public_bytes(public_raw).public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def ed25519_private_from_pem(pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the PEM data is not an Ed25519 private key")
    return key.private_bytes_raw()


def ed25519_public_from_pem(pem: bytes) -> bytes:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the PEM data is not an Ed25519 public key")
    return key.public_bytes_raw()
