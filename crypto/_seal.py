"""Whole-file and detached-header operations built from the layers below."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import BinaryIO, Final

from . import _primitives as prim
from ._errors import DecryptionError
from ._format import (
    ArmorReader,
    ArmorWriter,
    Header,
    Stanza,
    encode_header,
    encode_header_without_mac,
    looks_armored,
    parse_header,
    read_header,
)
from ._io import Readable, Source, Writable
from ._stream import decrypt_payload, encrypt_payload
from .age import FILE_KEY_SIZE, Identity, Recipient

_HEADER_INFO: Final = b"header"
_SCRYPT_TYPE: Final = "scrypt"


def _header_mac(file_key: bytes, mac_input: bytes) -> bytes:
    return prim.hmac_sha256(prim.hkdf_sha256(file_key, salt=b"", info=_HEADER_INFO), mac_input)


def _build_header(file_key: bytes, recipients: Sequence[Recipient]) -> bytes:
    if not recipients:
        raise ValueError("at least one recipient is required")
    stanzas: list[Stanza] = []
    for recipient in recipients:
        stanzas.extend(recipient.wrap(file_key))
    if any(s.type == _SCRYPT_TYPE for s in stanzas) and len(stanzas) != 1:
        # Decryptors reject such headers: a passphrase file must not also open
        # with someone's key, or the passphrase would not authenticate it.
        raise ValueError("a passphrase (ScryptRecipient) must be the only recipient")
    return encode_header(stanzas, _header_mac(file_key, encode_header_without_mac(stanzas)))


def _unwrap(header: Header, identities: Sequence[Identity]) -> bytes:
    """The file key, after checking the header MAC with it."""
    stanzas = header.stanzas
    if any(s.type == _SCRYPT_TYPE for s in stanzas) and len(stanzas) != 1:
        raise DecryptionError("header")
    for identity in identities:
        file_key = identity.unwrap(stanzas)
        if file_key is None:
            continue
        if len(file_key) != FILE_KEY_SIZE:
            raise DecryptionError("header")
        if not prim.constant_time_equal(_header_mac(file_key, header.mac_input), header.mac):
            raise DecryptionError("hmac")
        return file_key
    raise DecryptionError("no_match")


def _parse_detached(header: bytes) -> Header:
    parsed, raw = read_header(Source(io.BytesIO(header)))
    if len(raw) != len(header):
        raise DecryptionError("header")
    return parsed


def split_header(age_file_prefix: bytes) -> tuple[bytes, int]:
    """The header at the start of a binary age file, and where its payload starts.

    Raises DecryptionError if ``age_file_prefix`` does not start with a complete,
    well-formed header.
    """
    _, offset = parse_header(age_file_prefix)
    return age_file_prefix[:offset], offset


def seal(
    src: BinaryIO | Readable, payload_out: BinaryIO | Writable, recipients: Sequence[Recipient]
) -> bytes:
    """Encrypt ``src`` (streamed) to ``recipients``; write the payload, return the header.

    ``header + payload`` is a standard binary age file. The header is returned
    separately so it can be stored (and later rewrapped) apart from the payload.
    """
    file_key = prim.random_bytes(FILE_KEY_SIZE)
    header = _build_header(file_key, recipients)
    encrypt_payload(file_key, src, payload_out)
    return header


def seal_bytes(data: bytes, recipients: Sequence[Recipient]) -> tuple[bytes, bytes]:
    """``seal`` for data already in memory: returns (header, payload)."""
    out = io.BytesIO()
    header = seal(io.BytesIO(data), out, recipients)
    return header, out.getvalue()


def open_sealed(
    header: bytes,
    payload_in: BinaryIO | Readable,
    out: BinaryIO | Writable,
    identities: Sequence[Identity],
) -> None:
    """Decrypt a detached header plus its payload, streaming into ``out``.

    Plaintext is written chunk by chunk once authenticated; if DecryptionError
    is raised midway, discard what was written.
    """
    file_key = _unwrap(_parse_detached(header), identities)
    decrypt_payload(file_key, payload_in, out)


def open_bytes(header: bytes, payload: bytes, identities: Sequence[Identity]) -> bytes:
    """``open_sealed`` for data in memory; returns the plaintext only on full success."""
    out = io.BytesIO()
    open_sealed(header, io.BytesIO(payload), out, identities)
    return out.getvalue()


def decrypt_file(
    src: BinaryIO | Readable,
    out: BinaryIO | Writable,
    identities: Sequence[Identity],
    *,
    armored: bool | None = None,
) -> None:
    """``decrypt`` with the armor decision forced (True/False) or detected (None)."""
    source = Source(src)
    if armored is None:
        armored = looks_armored(source)
    if armored:
        source = Source(ArmorReader(source))
    header, _ = read_header(source)
    file_key = _unwrap(header, identities)
    decrypt_payload(file_key, source, out)


def decrypt(
    src: BinaryIO | Readable, out: BinaryIO | Writable, identities: Sequence[Identity]
) -> None:
    """Decrypt a whole age file, binary or ASCII-armored, streaming into ``out``.

    As with ``open_sealed``, discard ``out`` if DecryptionError is raised.
    """
    decrypt_file(src, out, identities)


def encrypt(
    src: BinaryIO | Readable,
    out: BinaryIO | Writable,
    recipients: Sequence[Recipient],
    *,
    armor: bool = False,
) -> None:
    """Encrypt ``src`` into a whole age file on ``out`` (optionally ASCII-armored)."""
    file_key = prim.random_bytes(FILE_KEY_SIZE)
    header = _build_header(file_key, recipients)
    if not armor:
        out.write(header)
        encrypt_payload(file_key, src, out)
        return
    writer = ArmorWriter(out)
    writer.write(header)
    encrypt_payload(file_key, src, writer)
    writer.close()


def header_file_key(header: bytes, identities: Sequence[Identity]) -> bytes:
    """The file key of a detached header, after parsing it strictly and checking its MAC.

    For re-wrapping tools, which must check a new header they cannot open themselves (the
    caller may not be one of its recipients): a header whose MAC verifies under the file key
    was built with that key. The file key opens the payload: handle it like a private key.
    """
    return _unwrap(_parse_detached(header), identities)


def rewrap(header: bytes, identities: Sequence[Identity], recipients: Sequence[Recipient]) -> bytes:
    """A new header for the same payload, readable by ``recipients`` only.

    The file key is recovered with ``identities`` (the old MAC is verified) and
    wrapped afresh, so the payload stays valid byte for byte. Whoever could
    read the old header may have kept the file key: rewrapping adds and removes
    readers of *future copies*, it cannot revoke past access.
    """
    file_key = _unwrap(_parse_detached(header), identities)
    return _build_header(file_key, recipients)


def header_binds_key(header: bytes, file_key: bytes) -> bool:
    """Whether the detached header's MAC was made with this file key.

    The MAC is HMAC-SHA256 keyed from the file key (HKDF, "header"), so, unlike the payload's
    ChaCha20-Poly1305, it commits to the key: no second key makes the same MAC. A verifier
    holding a file key from elsewhere (a disclosure header) checks with this that it is the
    key the original header, and so the original sealing, used. Raises DecryptionError when
    the header is malformed.
    """
    parsed = _parse_detached(header)
    return prim.constant_time_equal(_header_mac(file_key, parsed.mac_input), parsed.mac)


def open_payload(
    file_key: bytes, payload_in: BinaryIO | Readable, out: BinaryIO | Writable
) -> None:
    """Decrypt a payload with a file key already checked (``header_binds_key``), streaming."""
    decrypt_payload(file_key, payload_in, out)
