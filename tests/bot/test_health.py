"""Watching the bot: /healthz, /readyz and /metrics, from a real `intake serve` and in-process.

The canary test scrapes /metrics all through a run of witnesses reporting through Telegram's
faults and looks for anything that names a chat, a report or a receipt, or that is a time of
the run; the monitor's own tests make the database and the Bot API unreachable for real.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import create_async_engine
from telegram import Bot

from bot.core import DEFAULT_QUESTIONNAIRE
from bot.telegram.health import (
    BOT_API_PROBE_SECONDS,
    BOT_API_STALE_SECONDS,
    OUTBOX_STUCK_SECONDS,
    ChannelBots,
    HealthMonitor,
)
from crypto.drafts import DraftKeyring
from standin import BotApiStandIn
from standin.faults import Faults
from standin.witness_script import WitnessScript
from standin.witnesses import run_witnesses
from storage import Storage
from storage.blobs import BlobStore
from tests.e2e.serve_process import TOKEN, ServeProcesses, outcome, prepare_store

SCRIPT = WitnessScript.from_toml(DEFAULT_QUESTIONNAIRE)
# Chat ids no counter or gauge of a short run could equal by chance.
FIRST_CHAT = 8_364_117_209


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


async def _scrape(url: str, until: asyncio.Event, into: list[str]) -> None:
    while not until.is_set():
        try:
            status, body = await asyncio.to_thread(_get, url)
            if status == 200:
                into.append(body)
        except OSError:
            pass  # not listening yet
        await asyncio.sleep(0.3)


async def _until_outbox_drained(scrapes: list[str], *, deadline: float) -> None:
    while not scrapes or _samples(scrapes[-1])["intake_outbox_depth"] != 0:
        depth = _samples(scrapes[-1])["intake_outbox_depth"] if scrapes else None
        assert time.monotonic() < deadline, f"outbox still holds {depth} message(s) after 60 s"
        await asyncio.sleep(0.3)


def _samples(text: str) -> dict[str, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert sample.labels == {}, sample  # no label can name a chat, report or channel
            found[sample.name] = sample.value
    return found


async def test_metrics_during_a_run_hold_no_chat_report_receipt_or_time(
    database_url: str, tmp_path: Path
) -> None:
    """Scraped every 0.3 s while witnesses report through 429s and dropped connections:
    the counters move, /readyz says ready, and no scrape holds a chat id, report id, receipt
    code or a number that is a time of the run."""
    data_dir = tmp_path / "data"
    draft_key = tmp_path / "draft.key"
    DraftKeyring.generate_file(draft_key)
    reviewer = await prepare_store(database_url, data_dir)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.time()
    scrapes: list[str] = []
    faults = Faults(retry_after_rate=0.1, seed=20261206)
    async with BotApiStandIn(TOKEN, faults=faults) as standin:
        serve = ServeProcesses(data_dir, database_url, standin.root_url, draft_key,
                               extra_env={"INTAKE_HEALTH_LISTEN": f"127.0.0.1:{port}"})
        await serve.start()
        done = asyncio.Event()
        scraper = asyncio.create_task(_scrape(f"{base}/metrics", done, scrapes))
        records = await run_witnesses(standin, 4, script=SCRIPT, first_user_id=FIRST_CHAT,
                                      seed=3, patience=90.0)
        # A witness stops at its receipt, but what follows it (clearing the conversation from
        # the phone) may still wait out a 429 in the outbox, and the gauge moves only when the
        # sampler runs (every few seconds, slower on a busy machine): wait for a scrape that
        # shows the outbox drained instead of assuming it at a fixed moment.
        await _until_outbox_drained(scrapes, deadline=time.monotonic() + 60.0)
        alive = await asyncio.to_thread(_get, f"{base}/healthz")
        ready = await asyncio.to_thread(_get, f"{base}/readyz")
        done.set()
        await scraper
        await serve.stop_all()
    finished = time.time()
    assert alive == (200, "alive\n")
    assert ready == (200, "ready\n"), ready
    result = await outcome(database_url, data_dir, reviewer, records)
    assert len(result.reports) == 4 and all(r.receipt_code for r in records)
    assert len(scrapes) > 10
    last = _samples(scrapes[-1])
    assert last["intake_updates_handled_total"] >= 4 * 5
    assert last["intake_send_rate_limited_total"] > 0  # the stand-in's 429s were counted
    assert last["intake_send_retries_total"] >= last["intake_send_rate_limited_total"]
    assert last["intake_outbox_depth"] == 0
    assert last["intake_database_up"] == 1 and last["intake_bot_api_up"] == 1
    canaries = [str(r.user_id) for r in records]
    canaries += [r.summary.report_id for r in result.reports]
    for record in records:
        assert record.receipt_code is not None
        canaries += [record.receipt_code, record.receipt_code.replace("-", "")]
    for scrape in scrapes:
        for canary in canaries:
            assert canary not in scrape
        for name, value in _samples(scrape).items():
            # No time of the run, in seconds or milliseconds, a day either side.
            for scale in (1.0, 1000.0):
                assert not (started - 86400) * scale <= value <= (finished + 86400) * scale, name
        assert not re.search(r"\d{2}:\d{2}", scrape)


def _stale(after: float) -> float:
    return time.monotonic() + after


async def test_ready_names_an_unreachable_bot_api_and_a_stuck_outbox(
    database_url: str, tmp_path: Path
) -> None:
    """Against a Bot API nobody answers and an outbox that does not drain, /readyz (once the
    thresholds pass) says not ready and names both; /healthz stays alive."""
    storage = await Storage.open(database_url, tmp_path / "blobs")
    now = [time.monotonic()]
    try:
        bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{_free_port()}/bot")
        monitor = HealthMonitor(storage, bot, clock=lambda: now[0])
        await monitor.sample()
        assert monitor.problems() == [f"Bot API not reached for {BOT_API_STALE_SECONDS:.0f} s"]
        async with BotApiStandIn(TOKEN) as standin:
            monitor = HealthMonitor(storage, Bot(TOKEN, base_url=f"{standin.root_url}/bot"),
                                    clock=lambda: now[0])
            await monitor.sample()
            assert monitor.problems() == []
            assert monitor.answer("/readyz") == (200, "text/plain; charset=utf-8", b"ready\n")
            await _queue_an_outbox_message(storage)
            await monitor.sample()
            now[0] += OUTBOX_STUCK_SECONDS + 1
            await monitor.sample()
            status, _kind, body = monitor.answer("/readyz") or (0, "", b"")
            assert status == 503 and b"outbox stuck" in body
            assert (monitor.answer("/healthz") or (0,))[0] == 200
    finally:
        await storage.close()


async def test_ready_names_a_channel_bot_that_stopped_answering(
    database_url: str, tmp_path: Path
) -> None:
    """A channel's own bot whose Bot API stops answering is named by its tag on /readyz once
    90 s pass; one that answers is not; a bot a channel names that could not start is counted."""
    storage = await Storage.open(database_url, tmp_path / "blobs")
    now = [time.monotonic()]
    try:
        async with BotApiStandIn(TOKEN) as standin:
            answering = Bot(TOKEN, base_url=f"{standin.root_url}/bot")
            silent = Bot(TOKEN, base_url=f"http://127.0.0.1:{_free_port()}/bot")
            not_started = [0]
            monitor = HealthMonitor(
                storage, answering, clock=lambda: now[0],
                channel_bots=ChannelBots(
                    running=lambda: [("aaaa000011112222", answering),
                                     ("bbbb000011112222", silent)],
                    not_started=lambda: not_started[0]))
            await monitor.sample()
            assert monitor.problems() == []
            for _ in range(4):  # probed every 30 s, past the 90 s threshold
                now[0] += BOT_API_PROBE_SECONDS + 1
                await monitor.sample()
            assert monitor.problems() == [
                f"channel bot bbbb000011112222: Bot API not reached for "
                f"{BOT_API_STALE_SECONDS:.0f} s"]
            not_started[0] = 2
            status, _kind, body = monitor.answer("/readyz") or (0, "", b"")
            assert status == 503 and b"2 channel bot(s) could not start" in body
    finally:
        await storage.close()


async def test_ready_names_an_unreachable_database(tmp_path: Path) -> None:
    """A PostgreSQL nobody listens for: not ready, "database unreachable"."""
    engine = create_async_engine(f"postgresql+asyncpg://intake@127.0.0.1:{_free_port()}/x")
    storage = Storage(engine, BlobStore(tmp_path / "blobs"))
    try:
        async with BotApiStandIn(TOKEN) as standin:
            monitor = HealthMonitor(storage, Bot(TOKEN, base_url=f"{standin.root_url}/bot"))
            await monitor.sample()
            assert monitor.problems() == ["database unreachable"]
    finally:
        await storage.close()


async def _queue_an_outbox_message(storage: Storage) -> None:
    """An outbox row as the chat store leaves it (sealed bytes; the monitor only counts)."""
    import datetime as dt
    import secrets

    from storage.models import OutboxRow

    async with storage._sessions() as session, session.begin():
        session.add(OutboxRow(id=secrets.token_hex(16), chat_key="k" * 64, seq=1,
                              sealed=b"sealed", day=dt.datetime.now(dt.UTC).date()))


async def test_webhook_workers_answer_health_on_the_webhook_address(
    database_url: str, tmp_path: Path
) -> None:
    """In webhook mode the three paths sit beside /telegram on the worker's own address."""
    from bot.telegram.webhook import running_webhook

    async def process(_updates: object) -> None:
        raise AssertionError("no update is sent in this test")

    storage = await Storage.open(database_url, tmp_path / "blobs")
    try:
        async with BotApiStandIn(TOKEN) as standin:
            bot = Bot(TOKEN, base_url=f"{standin.root_url}/bot")
            monitor = HealthMonitor(storage, bot)
            await monitor.sample()
            async with running_webhook(bot, process, secret="s" * 32, host="127.0.0.1", port=0,
                                       path="/telegram", public_url=None,
                                       health=monitor) as port:
                base = f"http://127.0.0.1:{port}"
                assert await asyncio.to_thread(_get, f"{base}/healthz") == (200, "alive\n")
                assert await asyncio.to_thread(_get, f"{base}/readyz") == (200, "ready\n")
                status, body = await asyncio.to_thread(_get, f"{base}/metrics")
                assert status == 200 and "intake_outbox_depth 0.0" in body
    finally:
        await storage.close()


async def test_a_busy_health_address_stops_the_start_with_one_line(
    tmp_path: Path,
) -> None:
    """INTAKE_HEALTH_LISTEN on a port another program holds: one line naming the setting."""
    data_dir = tmp_path / "data"
    draft_key = tmp_path / "draft.key"
    DraftKeyring.generate_file(draft_key)
    database_url = f"sqlite+aiosqlite:///{data_dir / 'intake.db'}"
    await prepare_store(database_url, data_dir)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        async with BotApiStandIn(TOKEN) as standin:
            serve = ServeProcesses(data_dir, database_url, standin.root_url, draft_key,
                                   extra_env={"INTAKE_HEALTH_LISTEN": f"127.0.0.1:{taken}"})
            process = await serve.start()
            code = await asyncio.wait_for(process.wait(), 60)
            assert process.stderr is not None
            lines = [line for line in (await process.stderr.read()).decode().splitlines()
                     if "DEBUG" not in line and "INFO" not in line]
            serve.running.remove(process)
    assert code == 1
    assert lines == [f"Error: INTAKE_HEALTH_LISTEN: cannot listen on 127.0.0.1:{taken} "
                     "(address already in use): set it to a free HOST:PORT, or stop what holds "
                     "that port"]
