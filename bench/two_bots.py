"""A bot per channel: 100 witnesses on one bot against 100 split between two bots (a channel
with its own token), in one `intake serve` process, each bot held to Telegram's rates.

Run: .venv/bin/python bench/two_bots.py [--witnesses 100] [--pause 0.5,1.0] [--settle 0.3]
                                        [--profile FILE]  (cProfile of the two-bot round)
     Not part of the test suite; takes a few minutes.

Two Bot API stand-ins behind one address (standin/several.py), one per token, each with its
own FloodLimits (Telegram's documented rates: 30 messages a second per bot, one a second per
chat after a burst of three), so each bot is limited as Telegram limits it. Two rounds, each a
real `intake serve` (long polling, SQLite in a fresh data directory, a reviewer for `default`
and one for the partner channel `river`):

- one bot: the channel `river` has no bot of its own; all N witnesses talk to the deployment's
  bot;
- two bots: `river` has its own token file; N/2 witnesses talk to the deployment's bot (channel
  `default`), N/2 to river's bot (a plain /start reaches its only channel).

Each scripted witness (standin/witnesses.py) reports from /start through every question and a
file to the receipt code, waiting `--pause` seconds before each action. Printed per round:
receipts, actions answered per second (all witnesses' actions over the round's time), the
CPU the intake process used (one event loop: near 100% of a core, it binds before Telegram's
limits do), and per
bot its 429s and the most message-sending calls (sendMessage and the edits) and the most
sendMessage calls within any one second; then the two-bot/one-bot throughput ratio (target at
least 1.8) and whether each bot kept within 30 a second. Exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE
from crypto.drafts import DraftKeyring
from review.channels import add_channel
from review.recipients import add_reviewer
from standin import BotApiStandIn, FaultKind, FloodLimits
from standin.faults import SENDING_METHODS
from standin.several import SeveralBots
from standin.witness_script import WitnessScript
from standin.witnesses import WitnessRecord, run_witnesses
from storage import Storage, default_sqlite_url
from storage.records import ChannelRecord
from tests.support import most_in_one_second

TOKEN = "987654321:BENCH-token-of-the-deployment-bot-xyz"
PARTNER_TOKEN = "123456789:BENCH-token-of-the-partner-bot-abc"
SCRIPT = WitnessScript.from_toml(DEFAULT_QUESTIONNAIRE)


@dataclass
class BotFigures:
    refused: int
    most_sending: int
    most_send_message: int

    def show(self) -> str:
        return (f"{self.refused} 429s, at most {self.most_sending} sending calls "
                f"({self.most_send_message} sendMessage) in one second")


@dataclass
class Round:
    name: str
    finished: int
    witnesses: int
    actions: int
    seconds: float
    bots: list[BotFigures]
    # CPU seconds of the `intake serve` process during the round, per second of the round.
    cpu_share: float

    @property
    def throughput(self) -> float:
        return self.actions / self.seconds

    def show(self) -> str:
        bots = "; ".join(f"bot {n + 1}: {b.show()}" for n, b in enumerate(self.bots))
        return (f"{self.name:8} {self.finished}/{self.witnesses} receipts  {self.seconds:6.1f} s"
                f"  {self.throughput:5.1f} answered actions/s  intake CPU "
                f"{self.cpu_share:.0%} of a core  {bots}")


def _figures(standin: BotApiStandIn, since: int) -> BotFigures:
    calls = standin.calls[since:]
    sending = [c.time for c in calls if c.method in SENDING_METHODS]
    messages = [c.time for c in calls if c.method == "sendMessage"]
    return BotFigures(standin.faults_injected(FaultKind.FLOOD), most_in_one_second(sending),
                      most_in_one_second(messages))


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _prepare(data_dir: Path, token_file: Path | None) -> None:
    storage = await Storage.open(default_sqlite_url(data_dir), data_dir / "blobs")
    try:
        await add_reviewer(storage, "reviewer-a", str(crypto.generate_identity().recipient))
        await add_channel(storage, ChannelRecord(
            slug="river", name="River Legal Aid",
            bot_token_file=None if token_file is None else str(token_file)))
        await add_reviewer(storage, "rita", str(crypto.generate_identity().recipient),
                           channel="river")
    finally:
        await storage.close()


async def _polling(standin: BotApiStandIn, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 120
    while not standin.calls_to("getUpdates"):
        if process.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError("the bot did not start polling")
        await asyncio.sleep(0.05)


async def run_round(work: Path, count: int, *, two: bool, pause: tuple[float, float],
                    settle: float, profile: Path | None = None) -> Round:
    data_dir = work / ("two" if two else "one")
    data_dir.mkdir(parents=True)
    token_file = work / "river.token"
    token_file.write_text(PARTNER_TOKEN)
    token_file.chmod(0o600)
    await _prepare(data_dir, token_file if two else None)
    draft_key = work / f"{data_dir.name}.key"
    DraftKeyring.generate_file(draft_key)
    main = BotApiStandIn(TOKEN, flood_limits=FloodLimits())
    partner = BotApiStandIn(PARTNER_TOKEN, bot_username="river_bot", flood_limits=FloodLimits())
    async with SeveralBots(main, partner) as several:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
        env |= {
            "INTAKE_DATA_DIR": str(data_dir), "INTAKE_DATABASE_URL": default_sqlite_url(data_dir),
            "INTAKE_BOT_TOKEN": TOKEN, "INTAKE_TELEGRAM_API_URL": several.root_url,
            "INTAKE_DRAFT_KEY_FILE": str(draft_key), "INTAKE_LOG_LEVEL": "WARNING",
        }
        command = ["-m", "cli.main"] if profile is None else [
            str(Path(__file__).parent / "_intake_main.py"), "--profile", str(profile)]
        process = await asyncio.create_subprocess_exec(
            sys.executable, *command, "serve", env=env, cwd=Path(__file__).parents[1],
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            await _polling(main, process)
            if two:
                await _polling(partner, process)
            since = [len(main.calls), len(partner.calls)]
            cpu_before = _cpu_seconds(process.pid)
            started = time.monotonic()
            shares = [(main, count - count // 2), (partner, count // 2)] if two else [
                (main, count)]
            records: list[WitnessRecord] = []
            for batch in await asyncio.gather(*(
                run_witnesses(standin, n, script=SCRIPT, seed=1, pause=pause, settle=settle,
                              patience=180.0)
                for standin, n in shares
            )):
                records += batch
            seconds = time.monotonic() - started
            cpu = _cpu_seconds(process.pid) - cpu_before
        finally:
            if process.returncode is None:
                process.terminate()
            _out, err = await process.communicate()
        finished = sum(r.receipt_code is not None for r in records)
        if finished < count:
            sys.stderr.write(err.decode(errors="replace")[-3000:])
        bots = [_figures(main, since[0])] + ([_figures(partner, since[1])] if two else [])
    actions = sum(len(r.actions) for r in records)
    return Round("two bots" if two else "one bot", finished, count, actions, seconds, bots,
                 cpu / seconds)


async def main(args: argparse.Namespace) -> int:
    low, high = (float(x) for x in args.pause.split(","))
    with tempfile.TemporaryDirectory(prefix="two-bots-") as tmp:
        one = await run_round(Path(tmp) / "a", args.witnesses, two=False, pause=(low, high),
                              settle=args.settle)
        print(one.show(), flush=True)
        two = await run_round(Path(tmp) / "b", args.witnesses, two=True, pause=(low, high),
                              settle=args.settle, profile=args.profile)
        print(two.show(), flush=True)
    ratio = two.throughput / one.throughput
    within = all(b.most_send_message <= 30 and b.most_sending <= 30
                 for b in one.bots + two.bots)
    print(f"two bots / one bot: {ratio:.2f}x throughput (target >= 1.8); each bot within 30 "
          f"messages in any one second: {'yes' if within else 'NO'}")
    complete = one.finished == one.witnesses and two.finished == two.witnesses
    return 0 if ratio >= 1.8 and within and complete else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--witnesses", type=int, default=100)
    parser.add_argument("--pause", default="0.5,1.0")
    parser.add_argument("--settle", type=float, default=0.3)
    parser.add_argument("--profile", type=Path, default=None,
                        help="write cProfile stats of the two-bot round's intake to this file")
    sys.exit(asyncio.run(main(parser.parse_args())))
