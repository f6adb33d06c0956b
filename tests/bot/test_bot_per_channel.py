"""A bot per channel: two bots in one process, each with its own channels, deep links, chooser,
chats and outbox; a bot given to a channel while running starts, one taken away stops. The
real PTB stack against a stand-in per token behind one address (standin/several.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import crypto
from bot.core.chat import ChatState, SendText
from bot.telegram.bot_plan import BotFileError
from bot.telegram.health import HealthMonitor
from bot.telegram.webhook import SECRET_HEADER
from crypto.drafts import DraftKeyring
from review.channels import add_channel, set_channel
from review.recipients import add_reviewer
from standin.client import FakeUser
from standin.faults import Faults
from storage import Storage
from storage.records import ChannelRecord
from storage.send_budget import bot_tag
from tests.bot.harness import receipt_code, replies
from tests.bot.test_channels_witness import (
    HILLS_EN,
    RIVER_CLOSING,
    RIVER_EN,
    _answer_and_send,
    _questionnaires,
)
from tests.bot.two_bots import (
    PARTNER_SECRET,
    PARTNER_TOKEN,
    WEBHOOK_SECRET,
    TwoBots,
    running_two_bots,
    token_file,
)

UNKNOWN = "does not lead to an organisation this bot knows"
PARTNER_BOT_ID = int(PARTNER_TOKEN.split(":")[0])


def _labels(user: FakeUser) -> list[str]:
    return [label for row in user.bot_messages()[-1].buttons for label, _data in row]


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for a condition (20 s at most: the bots refresh every 0.3 s here)."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"still not: {what}")


def _no_partner_token(bots: TwoBots) -> None:
    secret_half = PARTNER_TOKEN.split(":", 1)[1]
    for line in bots.logs.lines:
        assert secret_half[:8] not in line and secret_half[-8:] not in line, line


async def test_each_bot_serves_only_its_own_channels(database_url: str, tmp_path: Path) -> None:
    """The partner's bot serves river and lake, the deployment's bot every other channel: each
    bot's deep links, chooser and unknown links are its own; the same Telegram user in both
    bots has two separate drafts; each report lands in its channel; each bot sends its own
    witnesses' messages only; the partner's token never reaches a log line."""
    river_file, hills_file = _questionnaires(tmp_path)
    partner_token = token_file(tmp_path)
    rita = crypto.generate_identity()

    async def setup(storage: Storage) -> None:
        for slug, name, questionnaire, token in [
            ("river", "River Legal Aid", river_file, partner_token),
            ("lake", "Lake Watch", None, partner_token),
            ("hills", "Hills Defenders", hills_file, None),
            ("mountain", "Mountain Rights", None, None),
        ]:
            await add_channel(storage, ChannelRecord(
                slug=slug, name=name, public=True,
                questionnaire=None if questionnaire is None else str(questionnaire),
                bot_token_file=None if token is None else str(token)))
        await add_reviewer(storage, "rita", str(rita.recipient), channel="river")
        await add_reviewer(storage, "hugo", str(crypto.generate_identity().recipient),
                           channel="hills")

    async with running_two_bots(database_url, tmp_path / "data", setup=setup,
                                channel_chooser=True) as bots:
        # The same person (same user id, so the same chat id) talks to both bots.
        at_partner = bots.partner.user(777, "Witness", language_code="en")
        at_main = bots.main.user(777, "Witness", language_code="en")
        await at_partner.send_command("start", "river")
        [first] = await replies(at_partner)
        assert first.startswith(RIVER_EN), first
        await at_main.send_command("start", "hills")
        [first] = await replies(at_main)
        assert first.startswith(HILLS_EN), first

        # A link to the other bot's channel is an unknown link here; the chooser lists this
        # bot's public channels only.
        stray = bots.partner.user(778, "Stray", language_code="en")
        await stray.send_command("start", "hills")
        notice, _menu = await replies(stray, 2)
        assert UNKNOWN in notice
        assert _labels(stray) == ["Lake Watch", "River Legal Aid", "Cancel"]
        other = bots.main.user(779, "Other", language_code="en")
        await other.send_command("start", "river")
        notice, _menu = await replies(other, 2)
        assert UNKNOWN in notice
        assert _labels(other) == ["Hills Defenders", "Mountain Rights", "Cancel"]

        # Two drafts, one per bot, answered in turn: neither disturbs the other.
        done_partner = await _answer_and_send(at_partner)
        done_main = await _answer_and_send(at_main)
        assert done_partner[0].endswith(RIVER_CLOSING), done_partner
        assert "receipt code" in done_main[0] and RIVER_CLOSING not in done_main[0], done_main
        # /status answers for the bot's own channels only: the river report's code is no code
        # to the main bot (as a wrong one is not), and the partner's bot shows its report.
        await at_main.send_command("status", receipt_code(done_partner[0]))
        [unknown] = await replies(at_main)
        assert unknown.startswith("No report matches this code"), unknown
        await at_partner.send_command("status", receipt_code(done_partner[0]))
        [shown] = await replies(at_partner)
        assert "not reviewed yet" in shown, shown
        channels = sorted([await bots.storage.reports.channel_of(report_id)
                           for report_id in await _report_ids(bots.storage)])
        assert channels == ["hills", "river"]

        assert bots.runtime.bots is not None and len(bots.runtime.bots.units) == 2
        # What waits in the outbox (the relay's round, not the update's own hand-over) is
        # sent by the bot whose chat it is, never by the other.
        partner_unit = next(u for u in bots.runtime.bots.units if u.plan.own)
        store = partner_unit.store
        await store.commit(store.chat_key(777), [], ChatState(),
                           [SendText(777, "Left in the outbox for the relay")])
        [left] = await replies(at_partner, timeout=20)
        assert left == "Left in the outbox for the relay"
        # Each bot's messages went to its own witnesses only, through its own token.
        partner_texts = [m.text for u in (at_partner, stray) for m in u.bot_messages()]
        main_texts = [m.text for u in (at_main, other) for m in u.bot_messages()]
        assert not any(HILLS_EN in t for t in partner_texts)
        assert not any(RIVER_EN in t or RIVER_CLOSING in t for t in main_texts)
        assert {c.params["chat_id"] for c in bots.partner.calls_to("sendMessage")} == {777, 778}
        assert {c.params["chat_id"] for c in bots.main.calls_to("sendMessage")} == {777, 779}
        keyring = DraftKeyring.ephemeral()
        assert keyring.chat_key(777) != keyring.chat_key(777, PARTNER_BOT_ID)
    _no_partner_token(bots)


async def _report_ids(storage: Storage) -> list[str]:
    from review.queue import list_reports

    return [row.report_id for row in await list_reports(storage)]


async def test_a_bot_given_and_taken_while_running(database_url: str, tmp_path: Path) -> None:
    """A channel given its own bot while the installation runs: that bot starts within a
    refresh and answers what its witnesses sent meanwhile, and the deployment's bot no longer
    knows the channel's link; taken away again, the bot stops and the deployment's bot
    serves the channel once more. No restart."""
    river_file, _hills = _questionnaires(tmp_path)
    partner_token = token_file(tmp_path)

    async def setup(storage: Storage) -> None:
        await add_channel(storage, ChannelRecord(slug="river", name="River Legal Aid",
                                                 questionnaire=str(river_file)))
        await add_reviewer(storage, "rita", str(crypto.generate_identity().recipient),
                           channel="river")

    async with running_two_bots(database_url, tmp_path / "data", setup=setup,
                                channel_refresh_seconds=0.3) as bots:
        assert bots.runtime.bots is not None
        supervisor = bots.runtime.bots
        assert len(supervisor.units) == 1
        early = bots.partner.user(901, "Early", language_code="en")
        await early.send_command("start", "river")  # nobody polls the partner's bot yet
        via_main = bots.main.user(902, "Main", language_code="en")
        await via_main.send_command("start", "river")
        [first] = await replies(via_main)
        assert first.startswith(RIVER_EN), first

        await set_channel(bots.storage, "river", {"bot_token_file": str(partner_token)})
        [first] = await replies(early, timeout=30)
        assert first.startswith(RIVER_EN), first
        assert len(supervisor.units) == 2
        later = bots.main.user(903, "Later", language_code="en")
        await later.send_command("start", "river")
        notice, _first = await replies(later, 2)
        assert UNKNOWN in notice

        # A reply the partner's Telegram does not take yet waits in that bot's outbox when the
        # bot is taken away: the bot retires, goes on trying, and only that bot sends it.
        bots.partner.faults = Faults(bad_gateway_rate=1.0, methods={"sendMessage"})
        await early.send_text("a text where a button is expected")
        tag = bot_tag(PARTNER_BOT_ID)

        async def waiting() -> bool:
            return bool(await bots.storage.conversations.chats_with_pending(bot=tag))

        await _until(waiting, "the partner bot's reply waits in its outbox")
        await set_channel(bots.storage, "river", {"bot_token_file": None})

        async def one_bot() -> bool:
            return len(supervisor.units) == 1 and supervisor.retiring == 1

        await _until(one_bot, "the partner's bot retired")
        bots.partner.faults = None
        [kept] = await replies(early, timeout=30)
        assert kept, kept

        async def stopped() -> bool:
            return supervisor.retiring == 0 and not await waiting()

        await _until(stopped, "the retired bot stopped once its outbox was empty")
        assert not [c for c in bots.main.calls_to("sendMessage")
                    if c.params.get("chat_id") == early.chat_id]
        back = bots.main.user(904, "Back", language_code="en")
        await back.send_command("start", "river")
        [first] = await replies(back)
        assert first.startswith(RIVER_EN), first
        assert any("bot.stopped" in line for line in bots.logs.lines)
    _no_partner_token(bots)


async def test_two_bots_behind_one_webhook_server(database_url: str, tmp_path: Path) -> None:
    """Webhook mode: the deployment's bot at /telegram, the partner's at /telegram/<its tag>
    with its own secret, both registered with their own bot and served by one server; a
    request with the other bot's secret is refused."""
    partner_token = token_file(tmp_path)
    secret_file = tmp_path / "partner.secret"
    secret_file.write_text(PARTNER_SECRET)
    secret_file.chmod(0o600)

    async def setup(storage: Storage) -> None:
        await add_channel(storage, ChannelRecord(
            slug="river", name="River Legal Aid", bot_token_file=str(partner_token),
            webhook_secret_file=str(secret_file)))

    tag = bot_tag(PARTNER_BOT_ID)
    async with running_two_bots(database_url, tmp_path / "data", setup=setup,
                                webhook=True) as bots:
        port = bots.runtime.webhook_port
        [main_hook] = bots.main.calls_to("setWebhook")
        [partner_hook] = bots.partner.calls_to("setWebhook")
        assert main_hook.params["url"] == "https://intake.example.org/telegram"
        assert partner_hook.params["url"] == f"https://intake.example.org/telegram/{tag}"
        assert main_hook.params["secret_token"] == WEBHOOK_SECRET
        assert partner_hook.params["secret_token"] == PARTNER_SECRET
        bots.main.webhook_targets = [f"http://127.0.0.1:{port}/telegram"]
        bots.partner.webhook_targets = [f"http://127.0.0.1:{port}/telegram/{tag}"]

        witness = bots.partner.user(501, "W", language_code="en")
        await witness.send_command("start")  # the partner bot's home channel: river
        [first] = await replies(witness)
        assert first.startswith("Before we start"), first
        assert await _report_ids(bots.storage) == []
        neighbour = bots.main.user(501, "W", language_code="en")
        await neighbour.send_command("start", "river")
        notice, _first = await replies(neighbour, 2)
        assert UNKNOWN in notice

        import aiohttp

        async with aiohttp.ClientSession() as session:
            wrong = await session.post(f"http://127.0.0.1:{port}/telegram/{tag}",
                                       json={"update_id": 1},
                                       headers={SECRET_HEADER: WEBHOOK_SECRET})
            nobody = await session.post(f"http://127.0.0.1:{port}/telegram/0123456789abcdef",
                                        json={"update_id": 1},
                                        headers={SECRET_HEADER: PARTNER_SECRET})
        assert (wrong.status, nobody.status) == (401, 404)
    _no_partner_token(bots)


async def test_a_token_file_others_may_read_stops_the_start(
    database_url: str, tmp_path: Path
) -> None:
    """At start, a channel's token file that group or others may read is refused with one line
    naming the channel and the fix (intake serve prints it); the token is not in it."""
    partner_token = token_file(tmp_path, mode=0o640)

    async def setup(storage: Storage) -> None:
        await add_channel(storage, ChannelRecord(slug="river", name="River Legal Aid",
                                                 bot_token_file=str(partner_token)))

    with pytest.raises(BotFileError) as refused:
        async with running_two_bots(database_url, tmp_path / "data", setup=setup):
            pass
    message = str(refused.value)
    assert message.startswith("channel 'river': ") and f"chmod 600 {partner_token}" in message
    assert "\n" not in message and PARTNER_TOKEN.split(":", 1)[1] not in message


async def test_a_token_the_bot_api_refuses_leaves_the_others_serving(
    database_url: str, tmp_path: Path
) -> None:
    """A channel's token that the Bot API refuses: that bot is left out with a warning that
    names the fix and not the token, and tried again at each refresh; the deployment's bot
    serves on."""
    refused = "111222333:REFUSED-token-nobody-serves-abcdef"
    refused_file = token_file(tmp_path, refused)

    async def setup(storage: Storage) -> None:
        await add_channel(storage, ChannelRecord(slug="river", name="River Legal Aid",
                                                 bot_token_file=str(refused_file)))

    async with running_two_bots(database_url, tmp_path / "data", setup=setup,
                                channel_refresh_seconds=0.3) as bots:
        assert bots.runtime.bots is not None and len(bots.runtime.bots.units) == 1
        witness = bots.main.user(601, "W", language_code="en")
        await witness.send_command("start")
        [first] = await replies(witness)
        assert first.startswith("Before we start"), first

        async def warned_twice() -> bool:
            return sum("bot.start_failed" in line for line in bots.logs.lines) >= 2

        await _until(warned_twice, "the refused bot was tried again")
        # /readyz says so, naming where to look (the token is not in it).
        monitor = HealthMonitor(bots.storage, bots.runtime.bot,
                                channel_bots=bots.runtime.bots.health())
        await monitor.sample()
        assert monitor.problems() == ["1 channel bot(s) could not start: see bot.start_failed "
                                      "in the log and `intake channel show SLUG`"]
    hidden = refused.split(":", 1)[1]
    assert not any(hidden[:8] in line or hidden[-8:] in line for line in bots.logs.lines)


async def test_a_bot_given_and_taken_in_webhook_mode(database_url: str, tmp_path: Path) -> None:
    """Webhook mode: a bot given to a channel while running registers its own path with its
    own bot and is served there; taken away, its path answers 404 (Telegram keeps the updates
    and tries again later) while the deployment's bot serves on."""
    partner_token = token_file(tmp_path)
    tag = bot_tag(PARTNER_BOT_ID)

    async def setup(storage: Storage) -> None:
        await add_channel(storage, ChannelRecord(slug="river", name="River Legal Aid"))

    async with running_two_bots(database_url, tmp_path / "data", setup=setup, webhook=True,
                                channel_refresh_seconds=0.3) as bots:
        port = bots.runtime.webhook_port
        assert bots.partner.calls_to("setWebhook") == []
        await set_channel(bots.storage, "river", {"bot_token_file": str(partner_token)})

        async def registered() -> bool:
            return bool(bots.partner.calls_to("setWebhook"))

        await _until(registered, "the partner's bot registered its webhook")
        [hook] = bots.partner.calls_to("setWebhook")
        assert hook.params["url"] == f"https://intake.example.org/telegram/{tag}"
        assert hook.params["secret_token"] == WEBHOOK_SECRET
        bots.partner.webhook_targets = [f"http://127.0.0.1:{port}/telegram/{tag}"]
        witness = bots.partner.user(701, "W", language_code="en")
        await witness.send_command("start", "river")
        [first] = await replies(witness)
        assert first.startswith("Before we start"), first

        await set_channel(bots.storage, "river", {"bot_token_file": None})
        assert bots.runtime.bots is not None
        supervisor = bots.runtime.bots

        async def one_bot() -> bool:
            return len(supervisor.units) == 1

        await _until(one_bot, "the partner's bot stopped")
        import aiohttp

        async with aiohttp.ClientSession() as session:
            gone = await session.post(f"http://127.0.0.1:{port}/telegram/{tag}",
                                      json={"update_id": 1},
                                      headers={SECRET_HEADER: WEBHOOK_SECRET})
        assert gone.status == 404
        bots.main.webhook_targets = [f"http://127.0.0.1:{port}/telegram"]
        neighbour = bots.main.user(702, "N", language_code="en")
        await neighbour.send_command("start", "river")
        [first] = await replies(neighbour)
        assert first.startswith("Before we start"), first
    _no_partner_token(bots)
