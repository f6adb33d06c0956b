"""Which channel (partner organisation) a witness reports to, and that channel's conversation.

Pure like the rest of the core: the runtime loads the channels and their questionnaires and
hands over one Conversation per channel slug; this module picks the one a witness reached (deep
link `/start <slug>`, or the first question listing the public channels where the deployment
allows it), records the choice in `Draft.channel`, and from then on passes every event of that
draft to that channel's Conversation. docs/channels.md describes the behaviour.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.conversation import Conversation
from bot.core.draft import Action, Draft, Phase
from bot.core.events import (
    Cancel,
    ChooseLanguage,
    Effect,
    Event,
    Forget,
    Press,
    Reply,
    Start,
)
from bot.core.keyboard import PressProblem, render, resolve

DEFAULT_CHANNEL = "default"
# The same rule as `intake channel add` (review/channels.py); anything else is not a slug.
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class ChannelEntry:
    """One channel as the witness side sees it: its conversation, and its listing if public."""

    conversation: Conversation
    # The name shown in the first question; None: reached by its deep link only.
    listed_as: str | None = None


def is_slug(text: str) -> bool:
    return _SLUG.fullmatch(text) is not None


class ChannelConversations:
    """The witness conversation across channels; the same calls as one Conversation.

    One bot's view (docs/channels.md, "A bot of its own"): `served` are the channels its deep
    links and its first question reach (None: every channel), `home` the one a plain /start
    and an unknown link go to. Drafts of any channel go on under their own channel's
    conversation, so a draft begun before its channel moved to another bot is not lost.
    """

    def __init__(
        self, channels: Mapping[str, ChannelEntry], *, chooser: bool = False,
        home: str = DEFAULT_CHANNEL, served: frozenset[str] | None = None,
    ) -> None:
        if DEFAULT_CHANNEL not in channels or home not in channels:
            raise ValueError("the default channel and the bot's home channel need a conversation")
        self._channels = dict(channels)
        self._home = home
        self._served = frozenset(self._channels) if served is None else served | {home}
        self._listed = [(slug, entry.listed_as) for slug, entry in self._channels.items()
                        if entry.listed_as is not None and slug in self._served]
        # A chooser with one entry (or none) would ask a question with a single answer.
        self._chooser = chooser and len(self._listed) >= 2

    @property
    def default(self) -> Conversation:
        """The home channel's conversation (the default channel's, for the deployment's bot)."""
        return self._channels[self._home].conversation

    @property
    def served(self) -> frozenset[str]:
        return self._served

    def of(self, draft: Draft | None) -> Conversation:
        """The conversation of this draft's channel (the default one without a draft)."""
        if draft is None:
            return self.default
        entry = self._channels.get(draft.channel)
        # A channel whose conversation is gone (its slug is never removed, but a draft may
        # outlive a restart that failed to load it) falls back to the default's, losing nothing.
        return self.default if entry is None else entry.conversation

    # -- the same entry points as Conversation -----------------------------------------------

    def handle(
        self, draft: Draft | None, event: Event, language: str | None = None
    ) -> tuple[Draft | None, list[Effect]]:
        """`language`: the chat's last language, for replies without a draft (Conversation)."""
        if draft is not None and isinstance(event, Start) and self._known(event.channel):
            return self._link_during(draft, event)
        if draft is not None and draft.phase is Phase.CHANNEL_MENU:
            return self._in_menu(draft, event)
        if draft is not None and draft.phase is Phase.CONFIRM_SWITCH and isinstance(event, Press):
            resolved = resolve(event.token, draft.prompt_nonce, draft.prompt_actions)
            if (isinstance(resolved, Action) and resolved.kind == "switch"
                    and resolved.value == "new" and self._known(draft.switch_to)):
                assert draft.switch_to is not None
                return self._begin(draft.switch_to, draft.language, [])
        if isinstance(event, Start) and draft is None:
            return self._start(event, language)
        return self.of(draft).handle(draft, event, language)

    def submitted(self, draft: Draft, receipt_code: str) -> list[Effect]:
        return self.of(draft).submitted(draft, receipt_code)

    def submit_failed(self, draft: Draft, reason: str) -> list[Effect]:
        return self.of(draft).submit_failed(draft, reason)

    def edit_ignored(self, language: str) -> Reply:
        return self.default.edit_ignored(language)

    def slow_down(self, language: str) -> Reply:
        return self.default.slow_down(language)

    def already_received(self, language: str) -> Reply:
        return self.default.already_received(language)

    # -- choosing ----------------------------------------------------------------------------

    def _known(self, slug: str | None) -> bool:
        return slug is not None and is_slug(slug) and slug in self._served

    def _link_during(self, draft: Draft, event: Start) -> tuple[Draft | None, list[Effect]]:
        """A deep link while a report is open: the same channel continues it; another asks
        whether to continue the open report or start one there (nothing answered yet: there
        is nothing to lose, and the link is simply followed)."""
        assert event.channel is not None
        conversation = self.of(draft)
        if event.channel == draft.channel and draft.phase is not Phase.CHANNEL_MENU:
            if draft.phase is Phase.CONFIRM_SWITCH:
                _ = conversation.gettext_for(draft.language)
                return draft, [conversation.resume(draft, lead=_(
                    "Welcome back. We continue where you left off."))]
            return conversation.handle(draft, event)
        if draft.phase is Phase.CHANNEL_MENU or (
            not draft.answers and draft.phase is not Phase.CONFIRM_SWITCH
        ):
            return self._begin(event.channel, draft.language, [])
        conversation.interrupt(draft, Phase.CONFIRM_SWITCH)
        draft.switch_to = event.channel
        return draft, [conversation.current_prompt(draft)]

    def _start(self, event: Start, language: str | None) -> tuple[Draft | None, list[Effect]]:
        wanted = event.channel
        language = language or event.language
        if self._known(wanted):
            assert wanted is not None
            return self._begin(wanted, language, [])
        lead: list[Effect] = []
        if wanted:
            _ = self.default.gettext_for(language)
            lead.append(Reply(_(
                "The link you followed does not lead to an organisation this bot knows; it may "
                "be mistyped or out of date. Nothing is lost: you can report here all the same.")))
        if self._chooser:
            draft = Draft(draft_id=secrets.token_hex(16),
                          language=self.default.language_for(language),
                          phase=Phase.CHANNEL_MENU, channel=self._home)
            return draft, [*lead, self._menu(draft)]
        return self._begin(self._home, language, lead)

    def _begin(
        self, slug: str, language: str | None, lead: list[Effect]
    ) -> tuple[Draft | None, list[Effect]]:
        draft, effects = self._channels[slug].conversation.handle(None, Start(language))
        if draft is not None:
            draft.channel = slug
        return draft, [*lead, *effects]

    def _menu(self, draft: Draft, lead: str | None = None) -> Reply:
        draft.prompt_nonce = secrets.token_hex(4)
        _ = self.default.gettext_for(draft.language)
        rows = [[(name, Action("channel", slug))] for slug, name in self._listed]
        rows.append([(_("Cancel"), Action("cancel"))])
        buttons, draft.prompt_actions = render(rows, draft.prompt_nonce)
        text = _("Which organisation do you want to report to?")
        return Reply(f"{lead}\n\n{text}" if lead else text, buttons)

    def _in_menu(self, draft: Draft, event: Event) -> tuple[Draft | None, list[Effect]]:
        if isinstance(event, Forget | Cancel):
            return self.default.handle(draft, event)
        _ = self.default.gettext_for(draft.language)
        if isinstance(event, Press):
            resolved = resolve(event.token, draft.prompt_nonce, draft.prompt_actions)
            if isinstance(resolved, Action) and resolved.kind == "cancel":
                return self.default.handle(draft, Cancel())
            if isinstance(resolved, Action) and self._known(resolved.value):
                return self._begin(resolved.value, draft.language, [])
            if resolved is PressProblem.STALE:
                return draft, [self._menu(draft, _(
                    "That button belongs to an earlier question. Here is where we are now:"))]
            return draft, [self._menu(draft, _(
                "That button did not work. Please use the buttons below."))]
        if isinstance(event, Start | ChooseLanguage):
            return draft, [self._menu(draft)]
        return draft, [self._menu(draft, _("Please use the buttons below."))]
