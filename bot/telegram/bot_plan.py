"""Which bot serves which channels (docs/channels.md, "A bot of its own").

A channel whose settings name a token file is served by that bot; the deployment's bot
(INTAKE_BOT_TOKEN) serves every other channel, `default` always. Channels naming the same
token share one bot. Tokens and webhook secrets are read from their files here, refused when
group or others may read them (as the deployment's other key files are), and never logged:
a plan's repr leaves them out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.channels import DEFAULT_CHANNEL
from storage.records import ChannelRecord
from storage.server_keys import KeyFileError, refuse_if_others_can_read

# The shape of a Bot API token (digits, a colon, then the secret part).
TOKEN_SHAPE = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")
# What Telegram accepts as a webhook's secret_token.
WEBHOOK_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,256}")


class BotFileError(Exception):
    """A channel's token or webhook secret file cannot be used; one line naming the fix."""


@dataclass(frozen=True)
class BotPlan:
    """One bot and the channels it serves."""

    token: str = field(repr=False)
    channels: frozenset[str]
    # Where a plain /start and an unknown link go: `default` for the deployment's bot, the
    # first of its channels (in slug order) for a channel's own bot.
    home: str
    # A channel's own bot (False: the deployment's, INTAKE_BOT_TOKEN).
    own: bool
    # Its webhook's secret; None: the deployment's INTAKE_WEBHOOK_SECRET_FILE.
    webhook_secret: str | None = field(default=None, repr=False)


# Every token and webhook secret read from a file in this process: the log formatter scrubs
# them from every line (cli/logging_policy.py), as it does INTAKE_BOT_TOKEN.
_TOKENS_READ: set[str] = set()


def tokens_read() -> frozenset[str]:
    return frozenset(_TOKENS_READ)


def read_token_file(path: Path) -> str:
    """The bot token in `path`, checked; raises BotFileError naming the fix."""
    token = _read_secret(path, "bot token file")
    if not TOKEN_SHAPE.fullmatch(token):
        raise BotFileError(
            f"the bot token file {path} does not hold a bot token (digits, a colon, then 20+ "
            "letters, digits, _ or -): copy the token from @BotFather into it"
        )
    _TOKENS_READ.add(token)
    return token


def read_webhook_secret_file(path: Path) -> str:
    secret = _read_secret(path, "webhook secret file")
    if not WEBHOOK_SECRET_SHAPE.fullmatch(secret):
        raise BotFileError(
            f"the webhook secret file {path} must hold 32 to 256 letters, digits, _ or -: "
            f"write one with `umask 077; openssl rand -hex 32 > {path}`"
        )
    _TOKENS_READ.add(secret)  # scrubbed from log lines like the tokens
    return secret


def _read_secret(path: Path, what: str) -> str:
    try:
        refuse_if_others_can_read(path, what)
        return path.read_text(encoding="utf-8").strip()
    except KeyFileError as error:
        raise BotFileError(str(error)) from None
    except FileNotFoundError:
        raise BotFileError(f"the {what} {path} does not exist: create it (mode 600) or fix "
                           "the path") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not text"
        raise BotFileError(f"the {what} {path} cannot be read ({reason}): check its owner "
                           "and permissions") from None


def plan_bots(records: Iterable[ChannelRecord], deployment_token: str) -> list[BotPlan]:
    """The deployment's bot first, then each channel's own bot (by its first channel's slug).

    Raises BotFileError, naming the channel, when a channel's file cannot be used.
    """
    deployment = {DEFAULT_CHANNEL}
    own: dict[str, list[str]] = {}
    secrets: dict[str, str] = {}
    for record in sorted(records, key=lambda r: r.slug):
        if not record.bot_token_file or record.slug == DEFAULT_CHANNEL:
            deployment.add(record.slug)
            continue
        try:
            token = read_token_file(Path(record.bot_token_file))
            secret = (read_webhook_secret_file(Path(record.webhook_secret_file))
                      if record.webhook_secret_file else None)
        except BotFileError as error:
            raise BotFileError(f"channel {record.slug!r}: {error}") from None
        if token == deployment_token:
            deployment.add(record.slug)
            continue
        own.setdefault(token, []).append(record.slug)
        if secret is not None:
            secrets.setdefault(token, secret)
    plans = [BotPlan(deployment_token, frozenset(deployment), DEFAULT_CHANNEL, own=False)]
    plans.extend(
        BotPlan(token, frozenset(slugs), slugs[0], own=True, webhook_secret=secrets.get(token))
        for token, slugs in own.items()
    )
    return plans
