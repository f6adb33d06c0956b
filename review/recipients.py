"""Administering recipients: which public keys new reports are sealed to.

Two kinds: reviewers, and one offline recovery recipient whose private key is kept away from
every machine (printed, in a safe) so that reports stay readable if every reviewer key is lost.
Both belong to one channel: `storage.recipients.active(channel)` returns both kinds of that
channel, and that is what the bot seals the channel's reports to (docs/channels.md).

Every change is recorded in the audit trail with the administrator's name and the key id;
pass `audit=None` only where no trail exists (tests; the demo records its reviewer too).
"""

from __future__ import annotations

import datetime as dt
import re

import crypto
from review.audit import AuditTrail
from storage import (
    DEFAULT_CHANNEL,
    RecipientExistsError,
    RecipientKind,
    RecipientRecord,
    Storage,
    UnknownRecipientError,
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")
DEFAULT_ACTOR = "admin"


class RecipientError(Exception):
    """An administrator's mistake, with the fix in the message."""


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise RecipientError(
            "recipient names are 1-64 letters, digits, spaces, dots, dashes or underscores"
        )


def _parse(recipient_text: str) -> crypto.X25519Recipient:
    try:
        return crypto.parse_recipient(recipient_text.strip())
    except crypto.InvalidKeyError as error:
        raise RecipientError(str(error)) from None


async def _add(
    storage: Storage,
    name: str,
    recipient: crypto.X25519Recipient,
    kind: RecipientKind,
    audit: AuditTrail | None,
    actor: str,
    channel: str,
) -> RecipientRecord:
    if await storage.channels.get(channel) is None:
        raise RecipientError(
            f"there is no channel {channel!r}: see `intake channel list`, or make it with "
            "`intake channel add`"
        )
    try:
        record = await storage.recipients.add(
            name, str(recipient), crypto.key_id(recipient), _today(), kind, channel
        )
    except RecipientExistsError:
        raise RecipientError(
            f"a recipient named {name!r} or with this key is (or was) registered: "
            "choose another name, or check `intake reviewer list`"
        ) from None
    await _record(audit, actor, "recipient.add", record)
    return record


async def add_reviewer(
    storage: Storage,
    name: str,
    recipient_text: str,
    *,
    audit: AuditTrail | None = None,
    actor: str = DEFAULT_ACTOR,
    channel: str = DEFAULT_CHANNEL,
) -> RecipientRecord:
    _check_name(name)
    recipient = _parse(recipient_text)
    return await _add(storage, name, recipient, RecipientKind.REVIEWER, audit, actor, channel)


async def add_recovery(
    storage: Storage,
    recipient_text: str,
    *,
    name: str | None = None,
    replace: bool = False,
    audit: AuditTrail | None = None,
    actor: str = DEFAULT_ACTOR,
    channel: str = DEFAULT_CHANNEL,
) -> tuple[RecipientRecord, list[RecipientRecord]]:
    """Register a channel's offline recovery recipient; returns it and the ones it replaced.

    One recovery recipient per channel at a time: a second is refused unless `replace`, which
    retires the old one only after the new one is stored, so new reports are never without one.
    """
    recipient = _parse(recipient_text)
    name = name or f"recovery-{crypto.key_id(recipient)[:8]}"
    _check_name(name)
    current = [
        r for r in await storage.recipients.active(channel) if r.kind is RecipientKind.RECOVERY
    ]
    if current and not replace:
        names = ", ".join(f"{r.name} (key {r.key_id})" for r in current)
        raise RecipientError(
            f"a recovery recipient is already registered: {names}; pass --replace to retire "
            "it in favour of the new one, then run `intake keys rewrap`"
        )
    record = await _add(storage, name, recipient, RecipientKind.RECOVERY, audit, actor, channel)
    replaced = []
    for old in current:
        retired = await storage.recipients.remove(old.name, _today())
        await _record(audit, actor, "recipient.remove", retired)
        replaced.append(retired)
    return record, replaced


async def remove_reviewer(
    storage: Storage,
    name: str,
    *,
    audit: AuditTrail | None = None,
    actor: str = DEFAULT_ACTOR,
) -> RecipientRecord:
    """Stop sealing new reports to this recipient (reviewer or recovery) at once."""
    try:
        record = await storage.recipients.remove(name, _today())
    except UnknownRecipientError:
        raise RecipientError(
            f"no active recipient is named {name!r}: see `intake reviewer list`"
        ) from None
    await _record(audit, actor, "recipient.remove", record)
    return record


async def _record(
    audit: AuditTrail | None, actor: str, action: str, record: RecipientRecord
) -> None:
    if audit is None:
        return
    details = {"name": record.name, "key_id": record.key_id, "kind": record.kind.value}
    if record.channel != DEFAULT_CHANNEL:
        # Entries of a deployment without channels read as they always did.
        details["channel"] = record.channel
    await audit.record(actor, action, None, details)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
