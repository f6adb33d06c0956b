"""A running bot for tests: the real python-telegram-bot stack against the Bot API stand-in."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, load_questionnaire
from bot.telegram.runtime import BotOptions, running_bot
from cli.app import witness_deletion
from cli.config import Settings
from cli.logging_policy import SafeFilter, SafeFormatter
from crypto.drafts import DraftKeyring
from review.recipients import add_reviewer
from standin.client import FakeUser
from standin.server import BotApiStandIn
from storage import Storage
from storage.server_keys import ServerKeys, load_or_create_server_keys

TOKEN = "987654321:TEST-token-for-the-stand-in-only-xyz"
# A receipt code as the bot shows it: five groups of four digits.
RECEIPT_CODE = re.compile(r"\d{4}(?:-\d{4}){4}")


class CapturedLogs(logging.Handler):
    """Every log line, formatted exactly as production formats it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(SafeFormatter(secrets=[TOKEN]))
        self.addFilter(SafeFilter())
        self.lines: list[str] = []
        self.raw_messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def captured_logs() -> Iterator[CapturedLogs]:
    handler = CapturedLogs()
    root = logging.getLogger()
    previous = root.level
    noisy = [logging.getLogger(n) for n in ("httpx", "httpcore", "telegram", "aiohttp")]
    previous_noisy = [logger.level for logger in noisy]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for logger in noisy:
        logger.setLevel(logging.DEBUG)  # the loudest setting: nothing may leak even here
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        for logger, level in zip(noisy, previous_noisy, strict=True):
            logger.setLevel(level)


@dataclass
class Harness:
    standin: BotApiStandIn
    storage: Storage
    keys: ServerKeys
    data_dir: Path
    reviewer: crypto.X25519Identity
    logs: CapturedLogs
    # The draft key's secret (kept outside the data directory, as deploy/ recommends).
    draft_secret: bytes
    users: dict[int, FakeUser] = field(default_factory=dict)

    def user(self, user_id: int, first_name: str = "Witness", **kwargs: str | None) -> FakeUser:
        return self.standin.user(user_id, first_name, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class BotStore:
    """What a bot under test runs on: a store with one reviewer, the server's keys and the
    draft keyring."""

    storage: Storage
    keys: ServerKeys
    reviewer: crypto.X25519Identity
    keyring: DraftKeyring
    # The draft key's secret (kept outside the data directory, as deploy/ recommends).
    draft_secret: bytes


@contextlib.asynccontextmanager
async def prepared_store(
    database_url: str,
    data_dir: Path,
    setup: Callable[[Storage], Awaitable[None]] | None = None,
) -> AsyncIterator[BotStore]:
    """A store in `data_dir` with reviewer-a's key, `setup` run on it, the server's keys, and
    a draft key beside `data_dir` (made once, kept across restarts); closed on the way out."""
    reviewer = crypto.generate_identity()
    data_dir.mkdir(parents=True, exist_ok=True)
    storage = await Storage.open(database_url, data_dir / "blobs")
    try:
        await add_reviewer(storage, "reviewer-a", str(reviewer.recipient))
        if setup is not None:
            await setup(storage)
        keys = load_or_create_server_keys(data_dir)
        draft_key = data_dir.parent / f"{data_dir.name}-draft.key"
        if not draft_key.exists():
            DraftKeyring.generate_file(draft_key)
        yield BotStore(storage, keys, reviewer, DraftKeyring.from_file(draft_key),
                       draft_key.read_bytes())
    finally:
        await storage.close()


@contextlib.asynccontextmanager
async def running_harness(
    database_url: str,
    data_dir: Path,
    *,
    max_file_bytes: int = 20 * 1024 * 1024,
    witness_may_delete: bool = False,
    setup: Callable[[Storage], Awaitable[None]] | None = None,
    channel_chooser: bool = False,
    reviewers_chat_id: int | None = None,
    channel_refresh_seconds: float = 30.0,
) -> AsyncIterator[Harness]:
    """`setup` runs on the store before the bot starts (channels are loaded at start)."""
    async with prepared_store(database_url, data_dir, setup) as store:
        with captured_logs() as logs:
            async with BotApiStandIn(TOKEN) as standin:
                # Scripted users act at machine speed; Telegram's per-chat pace (kept by
                # the e2e tests) would only make these conversation tests wait.
                options = BotOptions(
                    TOKEN, standin.root_url, poll_timeout=1, max_file_bytes=max_file_bytes,
                    per_chat_messages_per_second=50.0, per_chat_burst=50,
                    channel_chooser=channel_chooser, reviewers_chat_id=reviewers_chat_id,
                    channel_refresh_seconds=channel_refresh_seconds,
                )
                hook = None
                if witness_may_delete:
                    settings = Settings(data_dir=data_dir, witness_may_delete=True)
                    hook = witness_deletion(settings, store.storage, store.keys.custody_key)
                async with running_bot(options, store.storage, store.keys, load_questionnaire(
                        DEFAULT_QUESTIONNAIRE), delete_report=hook, keyring=store.keyring):
                    yield Harness(standin, store.storage, store.keys, data_dir, store.reviewer,
                                  logs, store.draft_secret)


def button(user: FakeUser, label: str) -> str:
    """The callback data of the newest visible button with this label."""
    for message in reversed(user.bot_messages()):
        for row in message.buttons:
            for text, data in row:
                if text == label:
                    return data
    raise AssertionError(f"no button {label!r} on screen")


async def replies(user: FakeUser, count: int = 1, timeout: float = 10.0) -> list[str]:
    """Wait for `count` bot messages in this chat and return their texts."""
    return [(await user.next_bot_message(timeout=timeout)).text for _ in range(count)]


async def press(user: FakeUser, label: str, count: int = 1) -> list[str]:
    await user.press(button(user, label))
    return await replies(user, count)


async def to_evidence(
    user: FakeUser, *, what: str = "It happened", place: str = "A street"
) -> None:
    """From /start to the evidence question, answering the shortest way."""
    await user.send_command("start")
    await replies(user)
    await press(user, "Yes, continue")
    await press(user, "Something else")
    await user.send_text(what)
    await replies(user)
    await press(user, "Today")
    await user.send_text(place)
    await replies(user)
    await press(user, "Me")
    await press(user, "Done")
    await press(user, "Skip")


async def finish_and_send(user: FakeUser, *, evidence_sent: bool) -> list[str]:
    """From the evidence question to the receipt; returns the texts after Send (the receipt
    alone: a report sealed at once is not announced with "Sending…")."""
    await press(user, "Done" if evidence_sent else "Skip")
    await press(user, "Skip")
    await press(user, "Skip")
    await user.press(button(user, "Send"))
    return await replies(user)


def receipt_code(receipt: str) -> str:
    """The receipt code in the bot's receipt message."""
    code = RECEIPT_CODE.search(receipt)
    assert code is not None, "no receipt code in the receipt"
    return code.group()


async def report_for_code(user: FakeUser, *, evidence_sent: bool = False) -> str:
    """A whole report the shortest way, from /start to the receipt; returns its code."""
    await to_evidence(user)
    return receipt_code((await finish_and_send(user, evidence_sent=evidence_sent))[0])


async def start_addition(user: FakeUser, code: str) -> str:
    """/status with `code`, then "Add information or files"; returns the status shown."""
    await user.send_command("status", code)
    (status,) = await replies(user)
    await press(user, "Add information or files")
    return status
