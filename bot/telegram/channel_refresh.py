"""Channels added or changed while the bot runs are served without a restart.

Every REFRESH_SECONDS the channels are read again (and the size and modification time of
each channel's questionnaire file, which an administrator may edit in place) by the bots'
supervisor (bot/telegram/bots.py); when anything differs, every channel's conversation is
built anew and each running bot's `ChannelFollower` hands its share to the bot's processor
at once, and the reviewers' notice chats follow. A channel that cannot be loaded (its
questionnaire broken) leaves the channels as they were, with a warning, until it is fixed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from bot.core.channels import ChannelConversations
from bot.notifications import ReviewerNotifier, notice_chats
from storage.records import ChannelRecord

REFRESH_SECONDS = 30.0

Signature = tuple[tuple[ChannelRecord, object], ...]


def signature_of(records: Sequence[ChannelRecord]) -> Signature:
    """What changes when a channel is added or changed, its questionnaire file included."""
    parts = []
    for record in records:
        stamp: object = None
        if record.questionnaire:
            try:
                status = os.stat(record.questionnaire)
                stamp = (status.st_mtime_ns, status.st_size)
            except OSError:
                stamp = "unreadable"
        parts.append((record, stamp))
    return tuple(parts)


class ChannelFollower:
    """One bot's conversation and reviewers' notifiers, following the channels as read."""

    def __init__(
        self,
        *,
        serving: ChannelConversations,
        notifiers: dict[str, ReviewerNotifier],
        deployment_chat: int | None,
        notify_interval_seconds: float,
        records: Sequence[ChannelRecord],
    ) -> None:
        self._serving = serving
        # The processor's own mapping, changed in place: slug -> the notifier of its chat.
        self._notifiers = notifiers
        self._deployment_chat = deployment_chat
        self._interval = notify_interval_seconds
        chats = notice_chats(((r.slug, r.reviewers_chat_id) for r in records), deployment_chat)
        self._by_chat = {chat: notifiers[slug] for slug, chat in chats.items()
                         if slug in notifiers}

    async def follow(self, fresh: ChannelConversations, records: Sequence[ChannelRecord]) -> None:
        """Serve `fresh` from the next update on, and tell each channel's chat of its reports."""
        # The processor and the submitter hold this very object: it serves the new channels
        # from the next update on (drafts keep their channel's slug, as across a restart).
        vars(self._serving).update(vars(fresh))
        await self._renew_notifiers(records)

    async def _renew_notifiers(self, records: Sequence[ChannelRecord]) -> None:
        chats = notice_chats(((r.slug, r.reviewers_chat_id) for r in records),
                             self._deployment_chat)
        kept = {chat: self._by_chat.get(chat) or ReviewerNotifier(chat, self._interval)
                for chat in set(chats.values())}
        gone = [n for chat, n in self._by_chat.items() if chat not in kept]
        self._by_chat = kept
        self._notifiers.clear()
        self._notifiers.update({slug: kept[chat] for slug, chat in chats.items()})
        for notifier in gone:
            await notifier.close()
