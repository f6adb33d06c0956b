"""Administering reviewer recipients: which public keys new reports are sealed to."""

from __future__ import annotations

import datetime as dt
import re

import crypto
from storage import RecipientExistsError, RecipientRecord, Storage, UnknownRecipientError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


class RecipientError(Exception):
    """An administrator's mistake, with the fix in the message."""


async def add_reviewer(storage: Storage, name: str, recipient_text: str) -> RecipientRecord:
    if not _NAME.match(name):
        raise RecipientError(
            "reviewer names are 1-64 letters, digits, spaces, dots, dashes or underscores"
        )
    try:
        recipient = crypto.parse_recipient(recipient_text.strip())
    except crypto.InvalidKeyError as error:
        raise RecipientError(str(error)) from None

    try:
        return await storage.recipients.add(
            name, str(recipient), crypto.key_id(recipient), _today()
        )
    except RecipientExistsError:
        raise RecipientError(
            f"a reviewer named {name!r} or with this recipient is (or was) registered: "
            "choose another name, or check `intake reviewer list`"
        ) from None


async def remove_reviewer(storage: Storage, name: str) -> RecipientRecord:

    try:
        return await storage.recipients.remove(name, _today())
    except UnknownRecipientError:
        raise RecipientError(
            f"no active reviewer is named {name!r}: see `intake reviewer list`"
        ) from None


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
