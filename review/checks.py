"""What the review backends accept: the errors they refuse with, and the argument checks.

Shared by LocalBackend (review/local.py), the reviewer API and RemoteBackend, so a value is
refused with the same words wherever it arrives. review.local re-exports these names.
"""

from __future__ import annotations

import re

import crypto
from review.backend import PRIORITIES, STATUSES, QueueFilter
from storage.triage import validate_label

# Notes and witness questions are short texts; 256 KiB leaves room for many recipient stanzas.
MAX_SEALED_TEXT_BYTES = 256 * 1024
_REPORT_ID = re.compile(r"[0-9a-f]{32}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")
# The smallest age payload: a 16-byte nonce and one empty chunk's 16-byte tag.
_MIN_PAYLOAD = 32


class ReviewError(Exception):
    """A request the backend refused; the message says what was wrong and how to fix it."""


class NotFoundError(ReviewError, LookupError):
    """No such report or item (it never existed, or retention has shredded it)."""


class InvalidRequestError(ReviewError, ValueError):
    """A value that is not allowed: an unknown status, a malformed label, a damaged age file."""


class BodyTooLargeError(ReviewError):
    """A request body over its limit (HTTP 413); the message states that limit."""


class ConflictError(ReviewError):
    """The thing changed under the caller (a header re-wrapped by someone else first)."""


class AccessDeniedError(ReviewError):
    """The credentials are missing, wrong, revoked, or lack the role (remote backends only)."""


def check_report_id(report_id: str) -> str:
    if not _REPORT_ID.fullmatch(report_id):
        raise InvalidRequestError("a report id is 32 lowercase hexadecimal characters")
    return report_id


# `review show abcd`: at least this many characters of an id, as typed (git's minimum).
MIN_ID_PREFIX = 4
_ID_PREFIX = re.compile(rf"[0-9a-f]{{{MIN_ID_PREFIX},32}}")


def check_id_prefix(prefix: str) -> str:
    if not _ID_PREFIX.fullmatch(prefix):
        raise InvalidRequestError(
            f"an id prefix is {MIN_ID_PREFIX} to 32 lowercase hexadecimal characters"
        )
    return prefix


def check_name(name: str, what: str = "name") -> str:
    if not _NAME.fullmatch(name):
        raise InvalidRequestError(
            f"a {what} is 1-64 letters, digits, spaces, dots, dashes or underscores"
        )
    return name


def check_sealed_file(sealed: bytes, what: str, limit: int = MAX_SEALED_TEXT_BYTES) -> None:
    """Refuse anything that is not a binary age file of reasonable size (cannot decrypt it)."""
    if len(sealed) > limit:
        raise InvalidRequestError(f"the {what} is larger than {limit} bytes")
    try:
        _header, offset = crypto.split_header(sealed)
    except crypto.DecryptionError:
        raise InvalidRequestError(
            f"the {what} is not a binary age file (age-encryption.org/v1 header)"
        ) from None
    if len(sealed) - offset < _MIN_PAYLOAD:
        raise InvalidRequestError(f"the {what} has an age header but no payload")


# A header is one line per recipient stanza plus a MAC: a few hundred bytes each.
MAX_HEADER_BYTES = 64 * 1024
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_header_swap(
    expected_old_sha256: str, new_header: bytes, recipient_key_ids: tuple[str, ...]
) -> None:
    """A re-wrapped header sent to replace an item's: well-formed, exactly one age header."""
    if not _SHA256.fullmatch(expected_old_sha256):
        raise InvalidRequestError("expected_old_sha256 is 64 lowercase hexadecimal characters")
    if not recipient_key_ids or not all(_KEY_ID.fullmatch(k) for k in recipient_key_ids):
        raise InvalidRequestError("recipient key ids are 16 lowercase hexadecimal characters")
    if len(new_header) > MAX_HEADER_BYTES:
        raise InvalidRequestError(f"the header is larger than {MAX_HEADER_BYTES} bytes")
    try:
        _parsed, offset = crypto.split_header(new_header)
    except crypto.DecryptionError:
        offset = -1
    if offset != len(new_header):
        raise InvalidRequestError("the new header is not exactly one age v1 header")


def check_filters(filters: QueueFilter) -> None:
    if filters.status is not None:
        check_choice(filters.status, STATUSES, "status")
    if filters.priority is not None:
        check_choice(filters.priority, PRIORITIES, "priority")
    if filters.label is not None:
        check_label(filters.label)


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise InvalidRequestError(f"{what} must be one of: {', '.join(allowed)}")


def check_label(label: str) -> None:
    try:
        validate_label(label)
    except ValueError as error:
        raise InvalidRequestError(str(error)) from None
