"""Replacing an item's header, and undoing it (issue 19, item 6).

The header is the only wrapped copy of the item's file key: a well-formed but wrong header
makes the item unreadable for everyone, the recovery key included. So:

- only an administrator of the report's own channel (or of no channel: the organisation's)
  replaces a header; to an administrator of another channel the item does not exist (the same
  404 as a report that never was), before anything of the request is looked at;
- every header replaced is kept (storage `superseded_headers`), with the key ids it was
  wrapped to;
- any of them can be put back (`restore_header`; without a version, the last one: undo),
  the current header joining the history in its turn, so a restore can be undone too.

The server cannot tell a right header from a wrong one (it holds no private key), so it keeps
them all rather than judge. Each replacement and restore is an audit entry naming both
headers' SHA-256. LocalBackend's methods of the same names call these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from review.checks import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    check_header_swap,
    check_report_id,
)
from storage.header_swaps import (
    HeaderConflictError,
    HeaderVersionError,
    ItemNotFoundError,
    SupersededHeader,
    header_sha256,
)

if TYPE_CHECKING:
    from review.local import LocalBackend

_CONFLICT = (
    "the header of item {seq} is not the one whose SHA-256 you sent (someone re-wrapped it "
    "first): fetch the report again and redo the step with the current header"
)


async def replace_header(
    backend: LocalBackend, report_id: str, seq: int, expected_old_sha256: str,
    new_header: bytes, recipient_key_ids: tuple[str, ...],
) -> None:
    """Swap the header if it is still the expected one; the old one is kept."""
    check_report_id(report_id)
    # Scope first: another channel's item answers exactly as a missing one, whatever the body.
    current = await backend.item(report_id, seq)
    check_header_swap(expected_old_sha256, new_header, recipient_key_ids)
    try:
        await backend.storage.reports.replace_header(
            report_id, seq, expected_old_sha256, new_header, recipient_key_ids
        )
    except ItemNotFoundError:
        raise NotFoundError(f"report {report_id} has no item {seq}") from None
    except HeaderConflictError:
        raise ConflictError(_CONFLICT.format(seq=seq)) from None
    await backend.audit.record(backend.actor, "item.rewrap", report_id, {
        "seq": seq, "recipient_key_ids": sorted(recipient_key_ids),
        "old_header_sha256": header_sha256(current.header),
        "new_header_sha256": header_sha256(new_header),
    })


async def header_history(
    backend: LocalBackend, report_id: str, seq: int
) -> list[SupersededHeader]:
    """The item's superseded headers, oldest first (404 outside the backend's channel)."""
    await backend.item(report_id, seq)
    return await backend.storage.reports.header_history(report_id, seq)


async def restore_header(
    backend: LocalBackend, report_id: str, seq: int, expected_old_sha256: str,
    version: int | None = None,
) -> SupersededHeader:
    """Put back superseded header `version` (None: the last one replaced); returns it."""
    current = await backend.item(report_id, seq)
    if version is None:
        history = await backend.storage.reports.header_history(report_id, seq)
        if not history:
            raise NotFoundError(f"item {seq} of report {report_id} never had another header")
        version = history[-1].version
    if not 1 <= version < 2**31:
        raise InvalidRequestError("version is a whole number from 1")
    try:
        restored = await backend.storage.reports.restore_header(
            report_id, seq, version, expected_old_sha256
        )
    except ItemNotFoundError:
        raise NotFoundError(f"report {report_id} has no item {seq}") from None
    except HeaderVersionError:
        raise NotFoundError(f"item {seq} of report {report_id} has no header {version}") from None
    except HeaderConflictError as error:
        reason = str(error) if "re-encrypted" in str(error) else _CONFLICT.format(seq=seq)
        raise ConflictError(reason) from None
    await backend.audit.record(backend.actor, "item.header_restore", report_id, {
        "seq": seq, "version": version, "recipient_key_ids": list(restored.recipient_key_ids),
        "old_header_sha256": header_sha256(current.header),
        "new_header_sha256": restored.sha256,
    })
    return restored
