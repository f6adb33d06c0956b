"""Behaviour of the public crypto API: tamper resistance, rewrap, memory, key parsing."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from pathlib import Path

import pytest

import crypto
from crypto import (
    CHUNK_SIZE,
    DecryptionError,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    decrypt,
    encrypt,
    generate_identity,
    open_bytes,
    open_sealed,
    rewrap,
    seal,
    seal_bytes,
    split_header,
)
from crypto._format import Stanza, b64encode, encode_header, encode_header_without_mac
from crypto._seal import _header_mac
from crypto._stream import ENCRYPTED_CHUNK_SIZE, NONCE_SIZE, encrypt_payload

MiB = 1 << 20


def reason(exc_info: pytest.ExceptionInfo[DecryptionError]) -> str:
    return exc_info.value.reason


@pytest.fixture(scope="module")
def alice() -> X25519Identity:
    return generate_identity()


@pytest.fixture(scope="module")
def bob() -> X25519Identity:
    return generate_identity()


@pytest.fixture(scope="module")
def sealed(alice: X25519Identity) -> tuple[bytes, bytes, bytes]:
    """A three-chunk message sealed to alice: (plaintext, header, payload)."""
    plaintext = os.urandom(2 * CHUNK_SIZE + 1234)
    header, payload = seal_bytes(plaintext, [alice.recipient])
    return plaintext, header, payload


# --- basic shapes ---------------------------------------------------------------


def test_public_surface() -> None:
    """The package exports exactly the agreed names."""
    assert set(crypto.__all__) == {
        "CHUNK_SIZE", "DecryptionError", "Identity", "InvalidKeyError", "Recipient",
        "ScryptIdentity", "ScryptRecipient", "X25519Identity", "X25519Recipient", "decrypt",
        "encrypt", "generate_identity", "header_binds_key", "header_file_key", "key_id",
        "open_bytes", "open_payload", "open_sealed", "parse_identities", "parse_recipient",
        "rewrap", "seal", "seal_bytes", "split_header",
    }  # fmt: skip
    assert CHUNK_SIZE == 65536


def test_seal_output_is_a_standard_age_file(alice: X25519Identity) -> None:
    """header + payload from seal() decrypts as an ordinary age file, and split_header finds it."""
    header, payload = seal_bytes(b"report", [alice.recipient])
    assert header.startswith(b"age-encryption.org/v1\n-> X25519 ") and header.endswith(b"\n")
    assert split_header(header + payload) == (header, len(header))
    out = io.BytesIO()
    decrypt(io.BytesIO(header + payload), out, [alice])
    assert out.getvalue() == b"report"


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE])
@pytest.mark.parametrize("armor", [False, True])
def test_encrypt_decrypt_round_trip(alice: X25519Identity, size: int, armor: bool) -> None:
    """encrypt() then decrypt() returns the input at chunk-boundary sizes, armored or not."""
    data = os.urandom(size)
    out = io.BytesIO()
    encrypt(io.BytesIO(data), out, [alice.recipient], armor=armor)
    assert out.getvalue().startswith(b"-----BEGIN" if armor else b"age-encryption.org/v1")
    plain = io.BytesIO()
    decrypt(io.BytesIO(out.getvalue()), plain, [alice])
    assert plain.getvalue() == data


def test_payload_size_is_exact(alice: X25519Identity) -> None:
    """The payload is nonce + one 16-byte tag per chunk; a full last chunk adds no empty chunk."""
    for size, chunks in [(0, 1), (1, 1), (CHUNK_SIZE, 1), (CHUNK_SIZE + 1, 2)]:
        _, payload = seal_bytes(bytes(size), [alice.recipient])
        assert len(payload) == NONCE_SIZE + size + 16 * chunks


def test_multiple_recipients_each_open(alice: X25519Identity, bob: X25519Identity) -> None:
    """Every recipient of a multi-recipient seal can open it on its own."""
    header, payload = seal_bytes(b"x" * 1000, [alice.recipient, bob.recipient])
    assert open_bytes(header, payload, [alice]) == open_bytes(header, payload, [bob])


# --- tampering and wrong keys ---------------------------------------------------


def test_every_flipped_header_byte_is_refused(
    alice: X25519Identity, sealed: tuple[bytes, bytes, bytes]
) -> None:
    """Flipping any single bit-0 of the header makes opening fail with DecryptionError."""
    _, header, payload = sealed
    for i in range(len(header)):
        bad = bytearray(header)
        bad[i] ^= 0x01
        with pytest.raises(DecryptionError):
            open_bytes(bytes(bad), payload, [alice])


def test_flipped_payload_bytes_are_refused(
    alice: X25519Identity, sealed: tuple[bytes, bytes, bytes]
) -> None:
    """Flipping a bit in the nonce, any chunk body or any tag makes opening fail."""
    _, header, payload = sealed
    positions = [
        0,
        NONCE_SIZE - 1,
        NONCE_SIZE,
        NONCE_SIZE + ENCRYPTED_CHUNK_SIZE - 1,
        NONCE_SIZE + ENCRYPTED_CHUNK_SIZE + 5,
        len(payload) - 17,
        len(payload) - 1,
    ]
    for i in positions:
        bad = bytearray(payload)
        bad[i] ^= 0x80
        with pytest.raises(DecryptionError) as caught:
            open_bytes(header, bytes(bad), [alice])
        assert reason(caught) == "payload"


def test_truncated_or_extended_payload_is_refused(
    alice: X25519Identity, sealed: tuple[bytes, bytes, bytes]
) -> None:
    """Cutting the payload anywhere (including at a chunk boundary) or appending to it fails."""
    plaintext, header, payload = sealed
    cuts = [
        0,
        10,
        NONCE_SIZE,
        NONCE_SIZE + 1,
        NONCE_SIZE + ENCRYPTED_CHUNK_SIZE,
        NONCE_SIZE + 2 * ENCRYPTED_CHUNK_SIZE,
        len(payload) - 1,
    ]
    for cut in cuts:
        with pytest.raises(DecryptionError):
            open_bytes(header, payload[:cut], [alice])
    with pytest.raises(DecryptionError):
        open_bytes(header, payload + b"\x00", [alice])
    # Streaming releases only authenticated whole chunks before failing.
    out = io.BytesIO()
    with pytest.raises(DecryptionError):
        open_sealed(header, io.BytesIO(payload[: NONCE_SIZE + ENCRYPTED_CHUNK_SIZE]), out, [alice])
    assert out.getvalue() == plaintext[:CHUNK_SIZE]


def test_wrong_identity_is_refused(bob: X25519Identity, sealed: tuple[bytes, bytes, bytes]) -> None:
    """An identity the file was not sealed to gets 'no match', and nothing is written."""
    _, header, payload = sealed
    out = io.BytesIO()
    with pytest.raises(DecryptionError) as caught:
        open_sealed(header, io.BytesIO(payload), out, [bob])
    assert reason(caught) == "no_match" and out.getvalue() == b""


def test_header_with_trailing_bytes_is_refused(
    alice: X25519Identity, sealed: tuple[bytes, bytes, bytes]
) -> None:
    """A detached header must end exactly after the MAC line."""
    _, header, payload = sealed
    with pytest.raises(DecryptionError) as caught:
        open_bytes(header + payload[:16], payload[16:], [alice])
    assert reason(caught) == "header"


def test_decryption_error_is_opaque(
    bob: X25519Identity, sealed: tuple[bytes, bytes, bytes]
) -> None:
    """The error message is one generic sentence without reason, keys or plaintext."""
    _, header, payload = sealed
    with pytest.raises(DecryptionError) as caught:
        open_bytes(header, payload, [bob])
    message = str(caught.value)
    assert caught.value.reason == "no_match" and "no_match" not in message
    assert str(bob) not in message and str(bob) not in repr(caught.value)
    assert str(DecryptionError("hmac")) == message


def test_post_quantum_stanza_beside_x25519_is_skipped(alice: X25519Identity) -> None:
    """An unsupported mlkem768x25519 stanza next to ours is ignored, not an error."""
    file_key = os.urandom(16)
    stanzas = [
        Stanza(("mlkem768x25519", b64encode(os.urandom(1120))), os.urandom(32)),
        *alice.recipient.wrap(file_key),
    ]
    header = encode_header(stanzas, _header_mac(file_key, encode_header_without_mac(stanzas)))
    payload = io.BytesIO()
    encrypt_payload(file_key, io.BytesIO(b"pq"), payload)
    assert open_bytes(header, payload.getvalue(), [alice]) == b"pq"


# --- rewrap -----------------------------------------------------------------------


def test_rewrap_moves_access(
    alice: X25519Identity, bob: X25519Identity, sealed: tuple[bytes, bytes, bytes]
) -> None:
    """Rewrapping to bob keeps the payload valid for bob and shuts alice out of the new header."""
    plaintext, header, payload = sealed
    payload_before = bytes(payload)
    new_header = rewrap(header, [alice], [bob.recipient])
    assert payload == payload_before
    assert open_bytes(new_header, payload, [bob]) == plaintext
    with pytest.raises(DecryptionError) as caught:
        open_bytes(new_header, payload, [alice])
    assert reason(caught) == "no_match"


def test_rewrap_keeps_and_adds_recipients(
    alice: X25519Identity, bob: X25519Identity, sealed: tuple[bytes, bytes, bytes]
) -> None:
    """A rewrapped header can list several recipients, each able to open the payload."""
    plaintext, header, payload = sealed
    new_header = rewrap(header, [bob, alice], [alice.recipient, bob.recipient])
    assert open_bytes(new_header, payload, [alice]) == plaintext
    assert open_bytes(new_header, payload, [bob]) == plaintext


def test_rewrap_refuses_non_matching_or_tampered_header(
    alice: X25519Identity, bob: X25519Identity, sealed: tuple[bytes, bytes, bytes]
) -> None:
    """Rewrap fails with DecryptionError without a matching identity or with a bad MAC."""
    _, header, _ = sealed
    with pytest.raises(DecryptionError) as caught:
        rewrap(header, [bob], [bob.recipient])
    assert reason(caught) == "no_match"
    mac_start = header.rindex(b"--- ") + 4
    bad = bytearray(header)
    bad[mac_start] = ord("A") if bad[mac_start] != ord("A") else ord("B")
    with pytest.raises(DecryptionError) as caught:
        rewrap(bytes(bad), [alice], [bob.recipient])
    assert reason(caught) == "hmac"


# --- scrypt -----------------------------------------------------------------------


def test_passphrase_round_trip_and_wrong_passphrase() -> None:
    """A passphrase-sealed file opens with the passphrase only."""
    header, payload = seal_bytes(b"secret", [ScryptRecipient("correct horse", work_factor=10)])
    assert b"-> scrypt " in header and header.count(b"-> ") == 1
    assert open_bytes(header, payload, [ScryptIdentity("correct horse")]) == b"secret"
    with pytest.raises(DecryptionError) as caught:
        open_bytes(header, payload, [ScryptIdentity("wrong")])
    assert reason(caught) == "no_match"


def test_scrypt_work_factor_limit_is_configurable() -> None:
    """A work factor above the identity's maximum is refused before any scrypt work."""
    header, payload = seal_bytes(b"x", [ScryptRecipient("pw", work_factor=12)])
    with pytest.raises(DecryptionError) as caught:
        open_bytes(header, payload, [ScryptIdentity("pw", max_work_factor=11)])
    assert reason(caught) == "header"
    assert open_bytes(header, payload, [ScryptIdentity("pw", max_work_factor=12)]) == b"x"


def test_scrypt_recipient_must_be_alone(alice: X25519Identity) -> None:
    """Mixing a passphrase with other recipients is refused when sealing."""
    with pytest.raises(ValueError, match="only recipient"):
        seal_bytes(b"x", [ScryptRecipient("pw", work_factor=10), alice.recipient])
    with pytest.raises(ValueError):
        seal_bytes(b"x", [])


# --- memory -------------------------------------------------------------------------


class GeneratedReader:
    """Yields ``total`` deterministic bytes without ever holding them all."""

    def __init__(self, total: int) -> None:
        self.remaining = total
        self.digest = hashlib.sha256()
        self._block = hashlib.sha256(b"seed").digest() * 4096

    def read(self, size: int = -1) -> bytes:
        size = self.remaining if size < 0 else min(size, self.remaining)
        reps, extra = divmod(size, len(self._block))
        out = self._block * reps + self._block[:extra]
        self.remaining -= size
        self.digest.update(out)
        return out


class HashingSink:
    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.length = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.length += len(data)
        return len(data)


def test_memory_does_not_grow_with_input(alice: X25519Identity, tmp_path: Path) -> None:
    """Sealing and opening 64 MiB streams keeps the traced peak under 4 MiB."""
    total = 64 * MiB
    source = GeneratedReader(total)
    payload_path = tmp_path / "payload"
    tracemalloc.start()
    try:
        with payload_path.open("wb") as payload_out:
            header = seal(source, payload_out, [alice.recipient])
        seal_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        sink = HashingSink()
        with payload_path.open("rb") as payload_in:
            open_sealed(header, payload_in, sink, [alice])
        open_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert source.remaining == 0 and sink.length == total
    assert sink.digest.digest() == source.digest.digest()
    assert seal_peak < 4 * MiB, seal_peak
    assert open_peak < 4 * MiB, open_peak
