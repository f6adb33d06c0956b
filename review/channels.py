"""Administering channels: several partner organisations' intakes in one deployment.

A channel has its own questionnaire, languages, reviewers and recovery key, retention and
notification chat (docs/channels.md). Settings left unset fall back to the deployment's INTAKE_*
settings, which is how the channel `default` (made by migration 0008) keeps an upgraded
deployment working exactly as before. Every change is recorded in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from review.audit import AuditTrail
from storage import ChannelExistsError, ChannelRecord, Storage, UnknownChannelError
from storage.channels import channel_settings

# Telegram's deep-link payload allows A-Z a-z 0-9 _ - (up to 64); we keep slugs short and lower.
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_NAME = re.compile(r"\S.{0,63}")
DEFAULT_ACTOR = "admin"


class ChannelError(Exception):
    """An administrator's mistake, with the fix in the message."""


def check_slug(slug: str) -> str:
    if not _SLUG.fullmatch(slug):
        raise ChannelError(
            f"channel slug {slug!r} must be 1-32 lower-case letters, digits, - or _ (it is the "
            "deep link's start parameter), starting with a letter or digit"
        )
    return slug


def parse_languages(text: str, known: tuple[str, ...]) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(c.strip().lower() for c in text.split(",") if c.strip()))
    unknown = [c for c in codes if c not in known]
    if not codes or unknown:
        raise ChannelError(
            f"--languages must be a comma-separated list of {', '.join(known)}"
            + (f" (not {', '.join(unknown)})" if unknown else "")
        )
    return codes


async def add_channel(
    storage: Storage, record: ChannelRecord, *, audit: AuditTrail | None = None,
    actor: str = DEFAULT_ACTOR,
) -> ChannelRecord:
    check_slug(record.slug)
    if not _NAME.fullmatch(record.name):
        raise ChannelError("a channel's name is 1-64 characters, not starting with a space")
    try:
        made = await storage.channels.add(record, _today())
    except ChannelExistsError:
        raise ChannelError(
            f"a channel {record.slug!r} exists: choose another slug, or change it with "
            f"`intake channel set {record.slug} ...`"
        ) from None
    await _record(audit, actor, "channel.add", made.slug, channel_settings(made))
    return made


async def set_channel(
    storage: Storage, slug: str, changes: dict[str, Any], *, audit: AuditTrail | None = None,
    actor: str = DEFAULT_ACTOR,
) -> ChannelRecord:
    if not changes:
        raise ChannelError("nothing to change: pass at least one option (see --help)")
    if "name" in changes and not _NAME.fullmatch(str(changes["name"])):
        raise ChannelError("a channel's name is 1-64 characters, not starting with a space")
    try:
        changed = await storage.channels.update(slug, **changes)
    except UnknownChannelError:
        raise ChannelError(f"there is no channel {slug!r}: see `intake channel list`") from None
    await _record(audit, actor, "channel.set", slug, channel_settings(changed))
    return changed


async def require_channel(storage: Storage, slug: str) -> ChannelRecord:
    found = await storage.channels.get(slug)
    if found is None:
        raise ChannelError(f"there is no channel {slug!r}: see `intake channel list`")
    return found


async def _record(
    audit: AuditTrail | None, actor: str, action: str, slug: str, details: dict[str, Any]
) -> None:
    if audit is not None:
        await audit.record(actor, action, None, {"channel": slug, **details})


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


async def scope_of(storage: Storage, name: str) -> str | None:
    """The channel a reviewer named `name` works in, for local use on the data directory.

    The channel of their active recipient key of that name, else of their active API credential
    of that name; None (every channel) when neither is scoped or the name is unknown. This keeps
    a reviewer of one channel from opening another's reports by mistake; it is not a boundary
    against whoever holds the data directory (the keys are: another channel's reports are not
    sealed to theirs).
    """
    for recipient in await storage.recipients.active():
        if recipient.name == name:
            return recipient.channel
    for held in await storage.credentials.registered(include_revoked=False):
        if held.name == name:
            return held.channel
    return None
