"""Cross-checks against pyrage (the rage Rust implementation) in both directions."""

from __future__ import annotations

import io
import os

import pytest

from crypto import (
    CHUNK_SIZE,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    decrypt,
    encrypt,
    generate_identity,
    open_bytes,
    parse_recipient,
    rewrap,
    seal_bytes,
)

pyrage = pytest.importorskip("pyrage")

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7]


def ours_from(pyrage_identity: object) -> X25519Identity:
    return X25519Identity.parse(str(pyrage_identity))


@pytest.mark.parametrize("size", SIZES)
def test_pyrage_opens_what_we_seal(size: int) -> None:
    """pyrage decrypts header + payload from seal() for keys it generated."""
    theirs = [pyrage.x25519.Identity.generate() for _ in range(3)]
    data = os.urandom(size)
    header, payload = seal_bytes(data, [parse_recipient(str(t.to_public())) for t in theirs])
    for identity in theirs:
        assert pyrage.decrypt(header + payload, [identity]) == data


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("armored", [False, True])
def test_we_open_what_pyrage_encrypts(size: int, armored: bool) -> None:
    """decrypt() opens pyrage output, binary and armored, with keys we generated."""
    ours = [generate_identity() for _ in range(3)]
    data = os.urandom(size)
    recipients = [pyrage.x25519.Recipient.from_str(str(i.recipient)) for i in ours]
    ciphertext = pyrage.encrypt(data, recipients, armored=armored)
    for identity in ours:
        out = io.BytesIO()
        decrypt(io.BytesIO(ciphertext), out, [identity])
        assert out.getvalue() == data


@pytest.mark.parametrize("armor", [False, True])
def test_pyrage_opens_our_encrypt(armor: bool) -> None:
    """pyrage decrypts whole files from encrypt(), including armored ones."""
    theirs = pyrage.x25519.Identity.generate()
    data = os.urandom(2 * CHUNK_SIZE + 3)
    out = io.BytesIO()
    encrypt(io.BytesIO(data), out, [parse_recipient(str(theirs.to_public()))], armor=armor)
    assert pyrage.decrypt(out.getvalue(), [theirs]) == data


def test_pyrage_opens_rewrapped_header() -> None:
    """After rewrap, pyrage opens new header + untouched payload, and the old key no longer can."""
    old = generate_identity()
    new = pyrage.x25519.Identity.generate()
    data = os.urandom(CHUNK_SIZE + 99)
    header, payload = seal_bytes(data, [old.recipient])
    new_header = rewrap(header, [old], [parse_recipient(str(new.to_public()))])
    assert pyrage.decrypt(new_header + payload, [new]) == data
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(new_header + payload, [pyrage.x25519.Identity.from_str(str(old))])


def test_we_open_pyrage_file_with_pyrage_generated_key() -> None:
    """Identity strings from pyrage parse, and open files pyrage encrypted to them."""
    theirs = pyrage.x25519.Identity.generate()
    ciphertext = pyrage.encrypt(b"hello", [theirs.to_public()])
    assert str(ours_from(theirs).recipient) == str(theirs.to_public())
    header_end = ciphertext.index(b"\n--- ") + 1
    header_end = ciphertext.index(b"\n", header_end) + 1
    assert open_bytes(ciphertext[:header_end], ciphertext[header_end:], [ours_from(theirs)]) == (
        b"hello"
    )


def test_passphrase_interop_both_ways() -> None:
    """scrypt files round-trip between pyrage and us in both directions."""
    header, payload = seal_bytes(b"by passphrase", [ScryptRecipient("pw 1", work_factor=14)])
    assert pyrage.passphrase.decrypt(header + payload, "pw 1") == b"by passphrase"
    ciphertext = pyrage.passphrase.encrypt(b"from rage", "pw 2")
    out = io.BytesIO()
    decrypt(io.BytesIO(ciphertext), out, [ScryptIdentity("pw 2")])
    assert out.getvalue() == b"from rage"
