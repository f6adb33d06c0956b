"""Telling the reviewers' Telegram chat that reports arrived, and nothing else.

The notice carries no content, category, language, time or witness detail: only that one or
more reports arrived. Telegram sees every message in that chat, and a reviewer's phone may be
seen by others, so the words are the same for every report. Notices are rate-limited: at most
one per interval; reports arriving in between are counted and told together ("3 new reports
arrived.") when the interval ends. A failed notice is logged by type and never touches the
witness's submission.

With partner channels (docs/channels.md) each channel's reports are told only in that channel's
reviewers' chat: `notice_chats` decides which chat that is; channels sharing a chat share its
notices (one count, one interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Protocol

from bot.core.channels import DEFAULT_CHANNEL

log = logging.getLogger("intake.notifications")


def notice_chats(
    channel_chats: Iterable[tuple[str, int | None]], deployment_chat: int | None
) -> dict[str, int]:
    """The reviewers' chat of each channel that has one.

    A channel's own chat if it set one; the default channel falls back to the deployment's
    INTAKE_REVIEWERS_CHAT_ID. Other channels never do: that chat is the default channel's
    reviewers', who must not learn when a partner's reports arrive.
    """
    chats: dict[str, int] = {}
    for slug, chat in channel_chats:
        if chat is None and slug == DEFAULT_CHANNEL:
            chat = deployment_chat
        if chat is not None:
            chats[slug] = chat
    if DEFAULT_CHANNEL not in chats and deployment_chat is not None:
        chats[DEFAULT_CHANNEL] = deployment_chat
    return chats


def notice_text(count: int) -> str:
    return "A new report arrived." if count == 1 else f"{count} new reports arrived."


class NoticeSchedule:
    """When to post and what to say: pure, the clock is passed in (seconds, monotonic)."""

    def __init__(self, interval_seconds: float) -> None:
        if interval_seconds <= 0:
            raise ValueError("the notice interval must be positive")
        self._interval = interval_seconds
        self._last_sent: float | None = None
        self._pending = 0

    @property
    def pending(self) -> int:
        return self._pending

    def arrived(self, now: float) -> str | None:
        """Count a new report; the text to post now, or None if it must wait for the interval."""
        self._pending += 1
        return self.due(now)

    def due(self, now: float) -> str | None:
        """The text to post now for reports counted so far, if the interval allows it."""
        if self._pending == 0:
            return None
        if self._last_sent is not None and now - self._last_sent < self._interval:
            return None
        text = notice_text(self._pending)
        self._pending = 0
        self._last_sent = now
        return text

    def next_due(self) -> float | None:
        """When waiting reports may be told (None if nothing waits)."""
        if self._pending == 0:
            return None
        return self._interval + (self._last_sent if self._last_sent is not None else 0.0)


class MessageSender(Protocol):
    """The part of telegram.Bot used here (kept narrow so tests and types stay simple)."""

    async def send_message(self, chat_id: int, text: str) -> object: ...


class ReviewerNotifier:
    """Posts the schedule's notices to one chat, in the background, never raising to callers."""

    def __init__(
        self,
        chat_id: int,
        interval_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._chat_id = chat_id
        self._schedule = NoticeSchedule(interval_seconds)
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.Task[None] | None = None

    def report_arrived(self, bot: MessageSender) -> None:
        """Call after a report is committed; returns at once, posting in the background."""
        text = self._schedule.arrived(self._clock())
        if text is not None:
            self._spawn(self._send(bot, text))
        elif self._timer is None:
            self._timer = self._spawn(self._flush_later(bot))

    async def _flush_later(self, bot: MessageSender) -> None:
        try:
            due = self._schedule.next_due()
            if due is not None:
                await asyncio.sleep(max(0.0, due - self._clock()))
            text = self._schedule.due(self._clock())
        finally:
            self._timer = None
        if text is not None:
            await self._send(bot, text)

    async def _send(self, bot: MessageSender, text: str) -> None:
        try:
            await bot.send_message(self._chat_id, text)
        except Exception as error:
            log.warning("notify.failed", extra={"error": type(error)})
        else:
            log.info("notify.sent")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        # Keep a reference: the event loop holds tasks only weakly.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Stop waiting notices (reports still counted are not told) and finish posts in flight."""
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def notifiers_for(
    chats: Mapping[str, int], interval_seconds: float
) -> dict[str, ReviewerNotifier]:
    """One notifier per chat, shared by the channels that post to it."""
    by_chat: dict[int, ReviewerNotifier] = {}
    return {slug: by_chat.setdefault(chat, ReviewerNotifier(chat, interval_seconds))
            for slug, chat in chats.items()}
