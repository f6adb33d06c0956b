"""Key handling: generation, string formats, parsing errors, fingerprints, primitives."""

from __future__ import annotations

import hashlib

import pytest

from crypto import (
    InvalidKeyError,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
    _bech32,
    _primitives,
    generate_identity,
    key_id,
    parse_identities,
    parse_recipient,
    seal_bytes,
)


@pytest.fixture(scope="module")
def alice() -> X25519Identity:
    return generate_identity()


def test_generated_identity_round_trips_through_strings(alice: X25519Identity) -> None:
    """Identity and recipient strings have the age prefixes and parse back to the same keys."""
    secret, public = str(alice), str(alice.recipient)
    assert secret.startswith("AGE-SECRET-KEY-1") and secret == secret.upper()
    assert public.startswith("age1") and public == public.lower() and len(public) == 62
    assert X25519Identity.parse(secret) == alice
    assert parse_recipient(public) == alice.recipient
    assert parse_identities(f"# comment\n\n{secret}\n")[0] == alice


def test_spec_example_key_pair() -> None:
    """The identity/recipient example pair from the age spec derive from each other."""
    identity = X25519Identity.parse(
        "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
    )
    assert identity.private_bytes() == b"\x42" * 32
    assert (
        str(identity.recipient) == "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
    )


def test_secrets_never_in_repr(alice: X25519Identity) -> None:
    """repr() of identities and passphrase objects does not reveal secrets."""
    assert str(alice) not in repr(alice)
    assert str(alice.recipient) in repr(alice)
    assert "hunter2" not in repr(ScryptIdentity("hunter2"))
    assert "hunter2" not in repr(ScryptRecipient("hunter2"))


def test_key_id(alice: X25519Identity) -> None:
    """key_id is the first 16 hex chars of SHA-256 of the age1 string, for objects and strings."""
    public = str(alice.recipient)
    expected = hashlib.sha256(public.encode()).hexdigest()[:16]
    assert key_id(alice.recipient) == key_id(public) == key_id(f"  {public}\n") == expected


# --- key parsing ------------------------------------------------------------------


BAD_RECIPIENTS = [
    "",
    "age1",
    "age1qqqqqqqq",
    "hello",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB/VmEPDitkw",
    "age1pq1x34nzsvr0rxjsgdn8zgyhfe8j7ceq5r9rdelkjuh3y235jzxshfg87pzf5zrqtzdxz95",
]


@pytest.mark.parametrize("text", BAD_RECIPIENTS)
def test_invalid_recipient_strings(text: str) -> None:
    """Malformed, unsupported or foreign keys are refused with InvalidKeyError."""
    with pytest.raises(InvalidKeyError):
        parse_recipient(text)


def test_recipient_case_and_checksum_rules(alice: X25519Identity) -> None:
    """Mixed case, uppercase and a single changed character are all refused."""
    public = str(alice.recipient)
    mixed = public[:10] + public[10].upper() + public[11:]
    typo = public[:-1] + ("q" if public[-1] != "q" else "p")
    for text in [mixed if mixed != public else public.upper(), public.upper(), typo]:
        with pytest.raises(InvalidKeyError):
            parse_recipient(text)


def test_secret_key_given_as_recipient_is_not_echoed(alice: X25519Identity) -> None:
    """Passing a secret key where a recipient belongs fails without repeating the key."""
    secret = str(alice)
    data_part = secret.split("1", 1)[1]
    for text in [secret, secret.lower(), secret[:-1] + "Q", secret + "X"]:
        with pytest.raises(InvalidKeyError) as caught:
            parse_recipient(text)
        message = str(caught.value)
        assert data_part[:20] not in message and data_part[:20].lower() not in message
        assert "secret key" in message


def test_bad_identity_lines_are_not_echoed(alice: X25519Identity) -> None:
    """A corrupted identity file line is reported by number, never by content."""
    secret = str(alice)
    corrupted = secret[:-2] + ("AA" if not secret.endswith("AA") else "QQ")
    with pytest.raises(InvalidKeyError) as caught:
        parse_identities(f"# created\n{secret}\n{corrupted}\n")
    assert "line 3" in str(caught.value)
    assert secret[16:40] not in str(caught.value)
    for text in [
        "",
        "# only comments\n",
        str(alice.recipient),
        "AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR",
        "age-encryption.org/v1\n-> scrypt abc 18\n",
    ]:
        with pytest.raises(InvalidKeyError):
            parse_identities(text)


def test_low_order_recipient_is_refused_when_sealing() -> None:
    """Sealing to an all-zero (low-order) public key fails instead of producing a weak stanza."""
    with pytest.raises(InvalidKeyError):
        seal_bytes(b"x", [X25519Recipient(bytes(32))])


def test_bech32_reference_vectors() -> None:
    """Valid BIP-173 strings decode and re-encode; invalid ones are refused."""
    for text in [
        "A12UEL5L",
        "a12uel5l",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    ]:
        hrp, data = _bech32.decode(text)
        assert _bech32.encode(hrp, data) == text
    for text in ["A1G7SGD8", "10a06t8", "1qzzfhee", "a12UEL5L", "x1b4n0q5v", "li1dgmt3"]:
        with pytest.raises(_bech32.Bech32Error):
            _bech32.decode(text)


def test_ed25519_wrappers() -> None:
    """Ed25519 helpers sign, verify, reject forgeries, and serialize to standard PEM."""
    private = _primitives.ed25519_generate()
    public = _primitives.ed25519_public(private)
    signature = _primitives.ed25519_sign(private, b"custody record")
    assert _primitives.ed25519_verify(public, signature, b"custody record")
    assert not _primitives.ed25519_verify(public, signature, b"custody recorD")
    assert not _primitives.ed25519_verify(public, b"\x00" * 64, b"custody record")
    pem = _primitives.ed25519_public_pem(public)
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert _primitives.ed25519_public_from_pem(pem) == public
    private_pem = _primitives.ed25519_private_pem(private)
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert _primitives.ed25519_private_from_pem(private_pem) == private
