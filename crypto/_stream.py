"""The age payload: a 16-byte nonce, then STREAM-encrypted 64 KiB chunks.

Both directions hold at most two chunks in memory whatever the input size.
"""

from __future__ import annotations

from typing import Final

from . import _primitives as prim
from ._errors import DecryptionError, Reason
from ._io import Readable, Writable, read_full

CHUNK_SIZE: Final = 64 * 1024
NONCE_SIZE: Final = 16
ENCRYPTED_CHUNK_SIZE: Final = CHUNK_SIZE + prim.CHACHA_TAG_SIZE
_PAYLOAD_INFO: Final = b"payload"
_COUNTER_SIZE: Final = 11
# 11-byte counter; unreachable in practice but never wrap silently.
_MAX_CHUNKS: Final = 1 << (8 * _COUNTER_SIZE)


def _chunk_nonce(counter: int, last: bool) -> bytes:
    if counter >= _MAX_CHUNKS:
        raise OverflowError("STREAM chunk counter exhausted")
    return counter.to_bytes(_COUNTER_SIZE, "big") + (b"\x01" if last else b"\x00")


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    return prim.hkdf_sha256(file_key, salt=nonce, info=_PAYLOAD_INFO)


def encrypt_payload(
    file_key: bytes, src: Readable, out: Writable, *, nonce: bytes | None = None
) -> None:
    """Write nonce and chunks for everything ``src`` yields.

    ``nonce`` is for reproducing known-answer vectors only; real callers must
    leave it to the CSPRNG.
    """
    if nonce is None:
        nonce = prim.random_bytes(NONCE_SIZE)
    if len(nonce) != NONCE_SIZE:
        raise ValueError("the payload nonce must be 16 bytes")
    aead = prim.Aead(payload_key(file_key, nonce))
    out.write(nonce)
    counter = 0
    # One chunk of look-ahead: a chunk is final iff nothing follows it, and the
    # final flag is part of its nonce, so it can only be sealed once we know.
    current = read_full(src, CHUNK_SIZE)
    while True:
        following = read_full(src, CHUNK_SIZE) if len(current) == CHUNK_SIZE else b""
        last = not following
        out.write(aead.seal(_chunk_nonce(counter, last), current))
        if last:
            return
        counter += 1
        current = following


def _fail(reason: Reason = "payload") -> DecryptionError:
    return DecryptionError(reason)


def decrypt_payload(file_key: bytes, src: Readable, out: Writable) -> None:
    """Decrypt and write each chunk as soon as it is authenticated.

    On DecryptionError the plaintext already written is an authentic prefix but
    the file as a whole must be discarded.
    """
    nonce = read_full(src, NONCE_SIZE)
    if len(nonce) != NONCE_SIZE:
        # The reference implementation reads the nonce together with the header
        # and the CCTV vectors classify its absence as a header failure.
        raise _fail("header")
    aead = prim.Aead(payload_key(file_key, nonce))
    counter = 0
    while True:
        chunk = read_full(src, ENCRYPTED_CHUNK_SIZE)
        if not chunk:
            # Clean end of input without a final chunk: truncated file.
            raise _fail()
        if len(chunk) < ENCRYPTED_CHUNK_SIZE:
            # A short chunk can only be the final one (and the input ended).
            plaintext = aead.open(_chunk_nonce(counter, True), chunk)
            if plaintext is None or (not plaintext and counter > 0):
                raise _fail()
            out.write(plaintext)
            return
        # A full-size chunk may be final or not; the AEAD tag decides, since the
        # flag is in the nonce. Trying both (as the reference implementation
        # does) releases an authentic full chunk even when the file is then
        # found truncated, which is what the CCTV vectors expect.
        last = False
        plaintext = aead.open(_chunk_nonce(counter, False), chunk)
        if plaintext is None:
            last = True
            plaintext = aead.open(_chunk_nonce(counter, True), chunk)
            if plaintext is None:
                raise _fail()
        out.write(plaintext)
        if last:
            if src.read(1):
                raise _fail()
            return
        counter += 1
