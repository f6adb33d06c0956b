"""Loading every channel's questionnaire and languages when the bot starts (docs/channels.md).

The pure core (bot/core/channels.py) gets one Conversation per channel slug; this module reads
the channels from storage and their questionnaire files. A channel added or changed later is
picked up by a running bot within seconds (bot/telegram/channel_refresh.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path

from bot.core import Conversation, Questionnaire, QuestionnaireError, load_questionnaire
from bot.core.channels import DEFAULT_CHANNEL, ChannelConversations, ChannelEntry
from storage import Storage
from storage.records import ChannelRecord


class ChannelSetupError(Exception):
    """A channel's questionnaire or languages cannot be used; the message names the fix."""


async def load_channels(
    storage: Storage,
    deployment_questionnaire: Questionnaire,
    make: Callable[[Questionnaire], Conversation],
    *,
    chooser: bool = False,
) -> ChannelConversations:
    entries = channel_entries(await storage.channels.all(), deployment_questionnaire, make)
    return ChannelConversations(entries, chooser=chooser)


def channel_entries(
    records: Iterable[ChannelRecord],
    deployment_questionnaire: Questionnaire,
    make: Callable[[Questionnaire], Conversation],
) -> dict[str, ChannelEntry]:
    """Every channel's conversation and listing; each bot serves some of them (bot_plan.py)."""
    entries: dict[str, ChannelEntry] = {}
    for record in records:
        questionnaire = channel_questionnaire(record, deployment_questionnaire)
        listed_as = record.name if record.public else None
        entries[record.slug] = ChannelEntry(make(questionnaire), listed_as)
    if DEFAULT_CHANNEL not in entries:
        entries[DEFAULT_CHANNEL] = ChannelEntry(make(deployment_questionnaire))
    return entries


def channel_questionnaire(record: ChannelRecord, deployment: Questionnaire) -> Questionnaire:
    """The channel's questionnaire (or the deployment's), offering the channel's languages."""
    questionnaire = deployment
    if record.questionnaire:
        try:
            questionnaire = load_questionnaire(Path(record.questionnaire))
        except OSError as error:
            raise ChannelSetupError(
                f"channel {record.slug!r}: its questionnaire {record.questionnaire} cannot be "
                f"read ({error.strerror}): fix the file, or `intake channel set {record.slug} "
                "--reset questionnaire`"
            ) from None
        except QuestionnaireError as error:
            raise ChannelSetupError(f"channel {record.slug!r}: {error}") from None
    if not record.languages:
        return questionnaire
    offered = tuple(code for code in questionnaire.languages if code in record.languages)
    if not offered:
        raise ChannelSetupError(
            f"channel {record.slug!r} offers {','.join(record.languages)} but its questionnaire "
            f"has only {','.join(questionnaire.languages)}: fix it with `intake channel set "
            f"{record.slug} --languages ...` or `--reset languages`"
        )
    default = (questionnaire.default_language
               if questionnaire.default_language in offered else offered[0])
    return dataclasses.replace(questionnaire, languages=offered, default_language=default)
