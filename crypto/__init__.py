"""age v1 encryption for sealed reports (https://age-encryption.org/v1).

Interoperable with the ``age`` CLI and other age implementations: ``seal``
returns a detached header, and ``header + payload`` is a standard age file.
"""

from ._errors import DecryptionError, InvalidKeyError
from ._seal import (
    decrypt,
    encrypt,
    header_binds_key,
    header_file_key,
    open_bytes,
    open_payload,
    open_sealed,
    rewrap,
    seal,
    seal_bytes,
    split_header,
)
from ._stream import CHUNK_SIZE
from .age import (
    Identity,
    Recipient,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
    generate_identity,
    key_id,
    parse_identities,
    parse_recipient,
)

__all__ = [
    "CHUNK_SIZE",
    "DecryptionError",
    "Identity",
    "InvalidKeyError",
    "Recipient",
    "ScryptIdentity",
    "ScryptRecipient",
    "X25519Identity",
    "X25519Recipient",
    "decrypt",
    "encrypt",
    "generate_identity",
    "header_binds_key",
    "header_file_key",
    "key_id",
    "open_bytes",
    "open_payload",
    "open_sealed",
    "parse_identities",
    "parse_recipient",
    "rewrap",
    "seal",
    "seal_bytes",
    "split_header",
]
