"""Making and revoking reviewer API credentials (used by the CLI and the admin endpoints)."""

from __future__ import annotations

import datetime as dt
import secrets

from review.audit import AuditTrail
from review.local import ConflictError, InvalidRequestError, NotFoundError, check_name
from storage import Role, Storage
from storage.credentials import CredentialExistsError, CredentialRecord, UnknownCredentialError

# A recognisable prefix lets secret scanners and people spot a leaked token; 32 random bytes.
TOKEN_PREFIX = "ik_"  # noqa: S105 - a public prefix, not a secret


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise InvalidRequestError("role must be 'reviewer' or 'admin'") from None


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


async def create_credential(
    storage: Storage, audit: AuditTrail, actor: str, name: str, role: Role,
    channel: str | None = None,
) -> tuple[CredentialRecord, str]:
    """A new credential and its token; the token is returned once and never stored.

    With `channel` it reaches that channel's reports only (docs/channels.md); without, every
    channel's.
    """
    check_name(name, "credential name")
    if channel is not None and await storage.channels.get(channel) is None:
        raise InvalidRequestError(f"there is no channel {channel!r}: see `intake channel list`")
    token = new_token()
    try:
        record = await storage.credentials.add(name, role, token, _today(), channel)
    except CredentialExistsError:
        raise ConflictError(
            f"a credential named {name!r} is active: revoke it first, or choose another name"
        ) from None
    details = {"name": name, "role": role.value}
    if channel is not None:
        details["channel"] = channel
    await audit.record(actor, "credential.add", None, details)
    return record, token


async def revoke_credential(
    storage: Storage, audit: AuditTrail, actor: str, name: str, *, channel: str | None = None
) -> CredentialRecord:
    """Revoke `name`'s credential; with `channel`, only if it is one of that channel's."""
    check_name(name, "credential name")
    try:
        record = await storage.credentials.revoke(name, _today(), channel=channel)
    except UnknownCredentialError:
        raise NotFoundError(f"no active credential is named {name!r}") from None
    await audit.record(actor, "credential.revoke", None, {"name": name})
    return record
