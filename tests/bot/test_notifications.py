"""Content-free, rate-limited "new report" notices to the reviewers' Telegram chat."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, load_questionnaire
from bot.notifications import NoticeSchedule, ReviewerNotifier, notice_text
from bot.telegram.runtime import BotOptions, running_bot
from review.recipients import add_reviewer
from standin.client import FakeUser
from standin.server import BotApiStandIn
from storage import Storage
from storage.server_keys import load_or_create_server_keys
from tests.bot.harness import TOKEN, captured_logs, finish_and_send, to_evidence

REVIEWERS_CHAT = 777000


def test_schedule_posts_at_once_then_coalesces() -> None:
    """The first report is told at once; those within the interval are told together after it."""
    schedule = NoticeSchedule(600)
    assert schedule.arrived(1000.0) == "A new report arrived."
    assert schedule.arrived(1001.0) is None
    assert schedule.arrived(1300.0) is None
    assert schedule.arrived(1599.0) is None
    assert schedule.pending == 3 and schedule.next_due() == 1600.0
    assert schedule.due(1599.9) is None
    assert schedule.due(1600.0) == "3 new reports arrived."
    assert schedule.due(5000.0) is None and schedule.next_due() is None
    assert schedule.arrived(5000.0) == "A new report arrived."
    with pytest.raises(ValueError):
        NoticeSchedule(0)


def test_notice_words_never_vary_with_the_report() -> None:
    """The only thing a notice can say is how many reports arrived."""
    assert notice_text(1) == "A new report arrived."
    assert notice_text(12) == "12 new reports arrived."


class _Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[int, str]] = []
        self.fail = fail

    async def send_message(self, chat_id: int, text: str) -> object:
        if self.fail:
            raise RuntimeError("Telegram is down and quotes: secret words")
        self.sent.append((chat_id, text))
        return None


async def test_notifier_flushes_the_coalesced_count_when_the_interval_ends() -> None:
    """Reports within the interval become one later notice; a failed post never raises."""
    now = [0.0]
    notifier = ReviewerNotifier(42, 0.2, clock=lambda: now[0])
    bot = _Recorder()
    notifier.report_arrived(bot)
    notifier.report_arrived(bot)
    notifier.report_arrived(bot)
    await asyncio.sleep(0.01)
    assert bot.sent == [(42, "A new report arrived.")]
    now[0] = 0.2
    await asyncio.sleep(0.3)
    assert bot.sent == [(42, "A new report arrived."), (42, "2 new reports arrived.")]
    failing = _Recorder(fail=True)
    with captured_logs() as logs:
        notifier_b = ReviewerNotifier(43, 60)
        notifier_b.report_arrived(failing)
        await notifier_b.close()
    assert any("notify.failed" in line for line in logs.lines)
    assert not any("secret words" in line for line in logs.lines)
    await notifier.close()


@contextlib.asynccontextmanager
async def _bot_with_notices(
    database_url: str, data_dir: Path, interval: float
) -> AsyncIterator[tuple[BotApiStandIn, FakeUser]]:
    storage = await Storage.open(database_url, data_dir / "blobs")
    try:
        await add_reviewer(storage, "reviewer-a", str(crypto.generate_identity().recipient))
        keys = load_or_create_server_keys(data_dir)
        async with BotApiStandIn(TOKEN) as standin:
            # The reviewers' chat: a chat the bot may post to, watched like any user's chat.
            reviewers = standin.user(REVIEWERS_CHAT, "Reviewers")
            # Witnesses at machine speed, not Telegram's per-chat pace (as in tests/bot/harness.py):
            # two of them must finish within one notice interval.
            options = BotOptions(TOKEN, standin.root_url, poll_timeout=1,
                                 reviewers_chat_id=REVIEWERS_CHAT,
                                 notify_interval_seconds=interval,
                                 per_chat_messages_per_second=50.0, per_chat_burst=50)
            async with running_bot(options, storage, keys,
                                   load_questionnaire(DEFAULT_QUESTIONNAIRE)):
                yield standin, reviewers
    finally:
        await storage.close()


async def test_real_bot_posts_content_free_notices(database_url: str, tmp_path: Path) -> None:
    """Through real PTB and the stand-in: one notice at once, later ones coalesced, no content."""
    # The interval is long enough for the two later witnesses to finish inside it.
    async with _bot_with_notices(database_url, tmp_path / "data", 8.0) as (standin, reviewers):
        first = standin.user(6101, "Witness")
        await to_evidence(first, what="CANARY-what-1", place="CANARY-place-1")
        await finish_and_send(first, evidence_sent=False)
        notice = await reviewers.next_bot_message(timeout=10)
        assert notice.text == "A new report arrived."

        async def another(user_id: int) -> None:
            witness = standin.user(user_id, "Witness")
            await to_evidence(witness, what=f"CANARY-what-{user_id}")
            await finish_and_send(witness, evidence_sent=False)

        await asyncio.gather(another(6102), another(6103))
        coalesced = await reviewers.next_bot_message(timeout=20)
        assert coalesced.text == "2 new reports arrived."
        texts = [m.text for m in reviewers.bot_messages()]
        assert texts == ["A new report arrived.", "2 new reports arrived."]
        assert not any("CANARY" in t or "Witness" in t for t in texts)
