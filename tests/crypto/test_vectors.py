"""The C2SP CCTV age test vectors (see tests/vectors/ORIGIN.md)."""

from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crypto import DecryptionError, Identity, ScryptIdentity, X25519Identity, decrypt
from crypto._format import ArmorReader, ArmorWriter, parse_header
from crypto._io import Source
from crypto._seal import decrypt_file, split_header
from crypto._stream import NONCE_SIZE, decrypt_payload, encrypt_payload

VECTORS_DIR = Path(__file__).resolve().parents[1] / "vectors" / "age-testkit"
PQ_SKIP_REASON = "post-quantum recipients (age >= 1.3) are not supported"

# DecryptionError.reason -> the CCTV "expect" category it stands for.
CATEGORY = {
    "header": "header failure",
    "hmac": "HMAC failure",
    "no_match": "no match",
    "payload": "payload failure",
    "armor": "armor failure",
}


@dataclass
class Vector:
    name: str
    expect: str
    file_key: bytes
    data: bytes
    payload_sha256: str | None = None
    identities: list[str] = field(default_factory=list)
    passphrases: list[str] = field(default_factory=list)
    armored: bool = False

    @property
    def post_quantum(self) -> bool:
        return any(i.startswith("AGE-SECRET-KEY-PQ-") for i in self.identities)

    def keys(self) -> list[Identity]:
        keys: list[Identity] = [X25519Identity.parse(i) for i in self.identities]
        keys += [ScryptIdentity(p) for p in self.passphrases]
        return keys

    def binary(self) -> bytes:
        """The age file with any armor removed."""
        if not self.armored:
            return self.data
        return Source(ArmorReader(Source(io.BytesIO(self.data)))).read(1 << 30)


def load_vector(path: Path) -> Vector:
    meta_text, _, data = path.read_bytes().partition(b"\n\n")
    vector = Vector(name=path.name, expect="", file_key=b"", data=data)
    compressed = False
    for line in meta_text.decode("utf-8").split("\n"):
        key, _, value = line.partition(": ")
        if key == "expect":
            vector.expect = value
        elif key == "payload":
            vector.payload_sha256 = value
        elif key == "file key":
            vector.file_key = bytes.fromhex(value)
        elif key == "identity":
            vector.identities.append(value)
        elif key == "passphrase":
            vector.passphrases.append(value)
        elif key == "armored":
            vector.armored = value == "yes"
        elif key == "compressed":
            assert value == "zlib"
            compressed = True
    if compressed:
        # The age file itself (everything after the blank line) is deflated.
        vector.data = zlib.decompress(vector.data)
    return vector


ALL_VECTORS = [load_vector(p) for p in sorted(VECTORS_DIR.iterdir())]


def vector_params(
    *, exclude: tuple[str, ...] = (), only: tuple[str, ...] = (), decrypts: bool = False
) -> list[object]:
    """Vectors as pytest params; ``decrypts`` marks tests that need the identities.

    Round-trip tests use only the file key, so they also run on post-quantum
    vectors; only opening a post-quantum stanza is unsupported.
    """
    params: list[object] = []
    for v in ALL_VECTORS:
        if v.expect in exclude or (only and v.expect not in only):
            continue
        skip = decrypts and v.post_quantum
        marks = [pytest.mark.skip(reason=PQ_SKIP_REASON)] if skip else []
        params.append(pytest.param(v, id=v.name, marks=marks))
    return params


def run(vector: Vector, *, armored: bool | None) -> tuple[str, bytes]:
    out = io.BytesIO()
    try:
        decrypt_file(io.BytesIO(vector.data), out, vector.keys(), armored=armored)
    except DecryptionError as exc:
        return CATEGORY[exc.reason], out.getvalue()
    return "success", out.getvalue()


def test_vector_set_is_complete() -> None:
    """All 143 vector files listed in ORIGIN.md are present and parse."""
    assert len(ALL_VECTORS) == 143
    assert {v.expect for v in ALL_VECTORS} == {"success", *CATEGORY.values()}


@pytest.mark.parametrize("vector", vector_params(decrypts=True))
def test_vector_outcome(vector: Vector) -> None:
    """Decrypting the vector gives exactly the expected outcome and released plaintext."""
    outcome, released = run(vector, armored=vector.armored)
    assert outcome == vector.expect
    if vector.payload_sha256 is not None:
        assert hashlib.sha256(released).hexdigest() == vector.payload_sha256
    if vector.expect not in ("success", "payload failure"):
        assert released == b""


@pytest.mark.parametrize("vector", vector_params(decrypts=True))
def test_vector_outcome_through_public_decrypt(vector: Vector) -> None:
    """The public decrypt(), which detects armor itself, agrees with the vector."""
    expected = vector.expect
    if vector.armored and not vector.data.lstrip(b" \t\r\n").startswith(b"-----"):
        # Garbage before the armor hides it from detection: it is read as a
        # (broken) binary file. Still a failure, just classified differently.
        expected = "header failure"
    outcome, released = run(vector, armored=None)
    assert outcome == expected
    if vector.payload_sha256 is not None and expected == vector.expect:
        assert hashlib.sha256(released).hexdigest() == vector.payload_sha256


@pytest.mark.parametrize("vector", vector_params(exclude=("header failure", "armor failure")))
def test_header_round_trip(vector: Vector) -> None:
    """The header decodes and re-encodes byte for byte (armor failures cannot be decoded)."""
    binary = vector.binary()
    header, offset = parse_header(binary)
    assert header.encode() == binary[:offset]
    assert split_header(binary) == (binary[:offset], offset)
    assert header.mac_input == binary[: offset - len(" ") - 43 - len("\n")]


@pytest.mark.parametrize("vector", vector_params(only=("success",)))
def test_stream_round_trip(vector: Vector) -> None:
    """With the vector's file key, STREAM decrypts and re-encrypts to identical bytes."""
    binary = vector.binary()
    _, offset = split_header(binary)
    payload = binary[offset:]
    plaintext = io.BytesIO()
    decrypt_payload(vector.file_key, io.BytesIO(payload), plaintext)
    assert hashlib.sha256(plaintext.getvalue()).hexdigest() == vector.payload_sha256
    again = io.BytesIO()
    encrypt_payload(
        vector.file_key, io.BytesIO(plaintext.getvalue()), again, nonce=payload[:NONCE_SIZE]
    )
    assert again.getvalue() == payload


def _armored_params() -> list[object]:
    return [
        p
        for p in vector_params(exclude=("armor failure",))
        if p.values[0].armored  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize("vector", _armored_params())
def test_armor_round_trip(vector: Vector) -> None:
    """Armor decodes and re-encodes identically, up to CRLF and surrounding whitespace."""
    binary = vector.binary()
    out = io.BytesIO()
    writer = ArmorWriter(out)
    writer.write(binary)
    writer.close()
    normalized = vector.data.strip(b" \t\r\n").replace(b"\r\n", b"\n") + b"\n"
    assert out.getvalue() == normalized


def test_post_quantum_only_file_is_no_match() -> None:
    """A file whose only stanza is mlkem768x25519 is 'no match' for an X25519 identity."""
    vector = next(v for v in ALL_VECTORS if v.name == "hybrid")
    other = X25519Identity.parse(next(v for v in ALL_VECTORS if v.name == "x25519").identities[0])
    with pytest.raises(DecryptionError) as caught:
        decrypt(io.BytesIO(vector.data), io.BytesIO(), [other])
    assert caught.value.reason == "no_match"
