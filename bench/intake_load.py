"""A surge of witnesses: `intake serve` against a bare python-telegram-bot echo bot, side by side.

Run: .venv/bin/python bench/intake_load.py [--witnesses 100] [--rounds 3] [--pause 1.0,2.0]
                                           [--profile FILE]   (cProfile of intake's rounds)
                                           [--unpaced]        (intake's own pacing lifted)
                                           [--slow-download S] (and a round with a slow chat)
     Not part of the test suite. Takes about a minute a round at a person's pace.

One Bot API stand-in (standin/) runs in this process. Rounds alternate: a real `intake serve`
process (long polling, SQLite in a fresh data directory, a reviewer registered, the default
questionnaire) with N scripted witnesses (standin/witnesses.py) each reporting from /start
through every question, a file, the summary and Send to the receipt code; then the echo bot
(bench/echo_bot.py: PTB's Application, answers each text with its text) with N users who each
send as many texts, one after the other, as an intake witness took actions. Each bot runs in
its own process, started before its round and stopped after it; only its work is timed.

The comparison is at a person's pace, and this is the fair one. Our sender paces Telegram
calls on purpose (about 30 messages a second overall, spread, and one a second per chat after
a burst of three: Telegram's own limits, past which it answers 429), and the echo bot paces
nothing.
Driven at machine speed the echo bot would "win" by sending faster than Telegram would accept,
which measures the limiter, not the intake path. People read and type: every witness and every
echo user waits `--pause` seconds (default 1 to 2, drawn per action from a seeded generator)
after the bot's answer before the next action, so both bots are offered the same load, and
a bot that keeps up finishes its round as soon as the people do. The figures:

- throughput: actions answered per second of the round (from the first action to the last
  user's last answer); intake/echo is the ratio. A bot that falls behind stretches its
  round, which lowers its throughput.
- first answer: for each action (a message, a file, a button press), the time until the
  first bot message (sent or edited) arrives in that chat. Shown at p50 and p99, for ordinary
  steps and for Send separately. Send's first answer is whatever the bot shows first (the
  summary's buttons taken away); "Send to receipt" is the whole of it: sealing and storing the
  report, then the message with the receipt code.
- calls per action: the Bot API calls each bot made in its round (getUpdates left out), by
  method, per answered action. Under a cap of 30 messages a second every message-sending call
  beyond one per action lowers the throughput a compliant bot can reach in proportion.

Targets (issue 8): throughput at least 0.85 of the echo bot's, p99 first answer under 1 s for
ordinary steps and under 2 s for Send. The last line printed is the least mean wait any bot
that keeps Telegram's 30 messages a second can give these users: N / 30 minus the mean pause
(the response time law of a closed system). Measured with nothing else running, 2 rounds:
with 40 witnesses (under the limit) intake meets every target, 0.88 of the bare echo bot,
p99 631 ms for ordinary steps and 182 ms for Send; with 100 (1.8 s least mean wait) it runs at
the limit, 0.90 of the echo bot within the limit and 0.43 of the bare one, p99 3.1 s and 4.5 s
(README.md, "Performance"). `--profile FILE` runs intake under cProfile (through
bench/_intake_main.py, a wrapper only this bench uses) and writes the pstats of the last
intake round to FILE.

Every run also prints the CPU each bot spent per answered action (user plus system time of the
bot's process from the first action to the last answer, read from /proc, start-up excluded),
intake's against the bare echo bot's: on one machine, CPU per update decides how many bots it
carries. `--unpaced` lifts intake's own pacing (bench/_intake_main.py: the bot's 30 messages a
second and each chat's one a second), so that intake against the bare echo bot shows intake's
own ceiling: throughput and CPU both unbounded by Telegram's limits. `--slow-download S` adds,
after each intake round, a second intake round with one more witness whose file takes S seconds
to download (the stand-in holds it), and prints the other witnesses' p99 first answer in both:
one slow chat must not hold up the others (no head-of-line blocking).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE
from crypto.drafts import DraftKeyring
from review.recipients import add_reviewer
from standin import BotApiStandIn
from standin.client import FakeUser
from standin.models import BotMessage
from standin.witness_script import RECEIPT_CODE, WitnessScript
from standin.witnesses import ScriptedWitness, WitnessRecord
from storage import Storage, default_sqlite_url

TOKEN = "555000222:BENCH-intake-load-token-for-the-standin"
# Telegram's overall rate for one bot (Bot FAQ), which bot/telegram/sender.py keeps.
TELEGRAM_MESSAGES_A_SECOND = 30
BENCH = Path(__file__).resolve().parent
SCRIPT = WitnessScript.from_toml(DEFAULT_QUESTIONNAIRE)


class _Stamped(deque[BotMessage]):
    """A chat's unread bot messages that also notes when each arrived."""

    def __init__(self, timeline: Timeline) -> None:
        super().__init__()
        self.timeline = timeline

    def append(self, message: BotMessage) -> None:
        now = time.monotonic()
        self.timeline.arrivals.append(now)
        if self.timeline.receipt is None and RECEIPT_CODE.search(message.text):
            self.timeline.receipt = now
        super().append(message)


@dataclass
class Timeline:
    """When a user acted (and whether it was Send) and when the bot's messages arrived."""

    actions: list[tuple[float, bool]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    receipt: float | None = None  # when the receipt code arrived

    def send_to_receipt(self) -> float | None:
        """From the last Send pressed to the receipt code."""
        sends = [at for at, is_send in self.actions if is_send]
        if self.receipt is None or not sends:
            return None
        return self.receipt - sends[-1]

    def first_answers(self) -> tuple[list[float], list[float], int]:
        """(ordinary latencies, Send latencies, unanswered actions)."""
        ordinary: list[float] = []
        send: list[float] = []
        unanswered = 0
        for index, (at, is_send) in enumerate(self.actions):
            following = bisect.bisect_left(self.arrivals, at)
            limit = self.actions[index + 1][0] if index + 1 < len(self.actions) else float("inf")
            if following == len(self.arrivals) or self.arrivals[following] > limit:
                unanswered += 1
                continue
            (send if is_send else ordinary).append(self.arrivals[following] - at)
        return ordinary, send, unanswered


class TimedUser:
    """A FakeUser whose every action is stamped; the rest is passed through."""

    def __init__(self, user: FakeUser) -> None:
        self._user = user
        self.timeline = Timeline()
        user._chat.pending = _Stamped(self.timeline)
        self.next_is_send = False

    def _stamp(self) -> None:
        self.timeline.actions.append((time.monotonic(), self.next_is_send))
        self.next_is_send = False

    async def send_text(self, text: str) -> int:
        self._stamp()
        return await self._user.send_text(text)

    async def send_command(self, command: str, args: str = "") -> int:
        self._stamp()
        return await self._user.send_command(command, args)

    async def send_document(self, data: bytes, **kwargs: Any) -> int:
        self._stamp()
        return await self._user.send_document(data, **kwargs)

    async def press(self, data: str, **kwargs: Any) -> Any:
        self._stamp()
        return await self._user.press(data, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._user, name)


class TimedWitness(ScriptedWitness):
    """A scripted witness that tells its user which press is Send."""

    async def _press(self, message: BotMessage, label: str, *, fallback_first: bool = False
                     ) -> bool:
        assert isinstance(self.user, TimedUser)
        self.user.next_is_send = label == self.script.buttons.send
        return await super()._press(message, label, fallback_first=fallback_first)


@dataclass
class Round:
    bot: str
    seconds: float
    answered: int
    ordinary: list[float]
    send: list[float]
    unanswered: int
    finished: int
    users: int
    stalled: list[str]
    receipts: list[float] = field(default_factory=list)
    # Bot API calls the bot made during the round, by method (getUpdates left out).
    calls: Counter[str] = field(default_factory=Counter)
    # CPU seconds (user + system) the bot's process spent during the round.
    cpu: float = float("nan")

    @property
    def cpu_per_action(self) -> float:
        return self.cpu / max(1, self.answered)

    @property
    def throughput(self) -> float:
        return self.answered / self.seconds

    def calls_per_action(self) -> str:
        per = {m: n / max(1, self.answered) for m, n in self.calls.most_common()}
        total = sum(per.values())
        return f"{total:.2f} calls/action: " + ", ".join(f"{m} {v:.2f}" for m, v in per.items())


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _wait_until_polling(standin: BotApiStandIn, before: int, process: Any) -> None:
    deadline = time.monotonic() + 120
    while len(standin.calls_to("getUpdates")) <= before:
        if process.returncode is not None:
            raise RuntimeError(f"the bot exited with {process.returncode} before polling")
        if time.monotonic() > deadline:
            raise RuntimeError("the bot did not start polling within two minutes")
        await asyncio.sleep(0.05)


async def _stop(process: Any) -> bytes:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        _out, err = await asyncio.wait_for(process.communicate(), 60)
    except TimeoutError:
        process.kill()
        _out, err = await process.communicate()
    return bytes(err or b"")


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); after the ")" they are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _start_intake(
    standin: BotApiStandIn, work: Path, profile: Path | None, *, unpaced: bool = False
) -> Any:
    data_dir = work / f"data-{time.monotonic_ns()}"
    draft_key = data_dir.parent / f"{data_dir.name}.key"
    DraftKeyring.generate_file(draft_key)
    database_url = default_sqlite_url(data_dir)
    storage = await Storage.open(database_url, data_dir / "blobs")
    try:
        await add_reviewer(storage, "reviewer-a", str(crypto.generate_identity().recipient))
    finally:
        await storage.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env |= {
        "INTAKE_DATA_DIR": str(data_dir),
        "INTAKE_DATABASE_URL": database_url,
        "INTAKE_BOT_TOKEN": TOKEN,
        "INTAKE_TELEGRAM_API_URL": standin.root_url,
        "INTAKE_DRAFT_KEY_FILE": str(draft_key),
        "INTAKE_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, str(BENCH / "_intake_main.py")]
    if profile is not None:
        command += ["--profile", str(profile)]
    if unpaced:
        command.append("--unpaced")
    command.append("serve")
    return await asyncio.create_subprocess_exec(
        *command, env=env, cwd=BENCH.parent,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


async def _slow_witness(
    standin: BotApiStandIn, user_id: int, seconds: float, pause: tuple[float, float]
) -> WitnessRecord:
    """One more witness, whose file the stand-in takes `seconds` to hand over."""
    user = standin.user(user_id, "Slow")
    sent: list[bytes] = []
    send_document = user.send_document

    async def remembered(data: bytes, **kwargs: Any) -> int:
        sent.append(data)
        return await send_document(data, **kwargs)

    user.send_document = remembered  # type: ignore[method-assign]
    standin.download_delay = lambda stored: seconds if stored.data in sent else 0.0
    try:
        return await ScriptedWitness(user, SCRIPT, seed=user_id, pause=pause,
                                     patience=seconds + 120.0).run()
    finally:
        standin.download_delay = None


async def _echo_user(user: TimedUser, texts: int, pause: tuple[float, float], seed: int
                     ) -> bool:
    import random

    rng = random.Random(seed)
    for number in range(texts):
        await user.send_text(f"message {number} from {user.user_id}")
        try:
            await user.next_bot_message(timeout=60)
        except TimeoutError:
            return False
        user.take_bot_messages()
        if pause[1] > 0:
            await asyncio.sleep(rng.uniform(*pause))
    return True


async def run_round(
    standin: BotApiStandIn, bot: str, count: int, first_user: int, *,
    pause: tuple[float, float], echo_actions: int, work: Path, profile: Path | None,
    log: Path | None = None, unpaced: bool = False, slow_download: float = 0.0,
) -> Round:
    before = len(standin.calls_to("getUpdates"))
    calls_before = len(standin.calls)
    if bot == "intake":
        process = await _start_intake(standin, work, profile, unpaced=unpaced)
    else:
        limits = ["--telegram-limits"] if bot == "echo30" else []
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(BENCH / "echo_bot.py"), standin.root_url, TOKEN, *limits,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
    try:
        await _wait_until_polling(standin, before, process)
        users = [TimedUser(standin.user(first_user + n, f"User {n}")) for n in range(count)]
        cpu_before = _cpu_seconds(process.pid)
        started = time.monotonic()
        stalled: list[str] = []
        if bot == "intake":
            witnesses = [
                TimedWitness(user, SCRIPT, seed=first_user, pause=pause, patience=120.0)  # type: ignore[arg-type]
                for user in users
            ]
            runs = [w.run() for w in witnesses]
            if slow_download > 0:
                runs.append(_slow_witness(standin, first_user + count, slow_download, pause))
            records: list[WitnessRecord] = (await asyncio.gather(*runs))[:count]
            finished = sum(r.finished for r in records)
            stalled = [r.stalled for r in records if r.stalled]
        else:
            done = await asyncio.gather(*(
                _echo_user(user, echo_actions, pause, first_user + n)
                for n, user in enumerate(users)
            ))
            finished = sum(done)
        last = max((u.timeline.arrivals[-1] for u in users if u.timeline.arrivals),
                   default=time.monotonic())
        cpu = _cpu_seconds(process.pid) - cpu_before
    finally:
        err = await _stop(process)
    calls = Counter(c.method for c in standin.calls[calls_before:] if c.method != "getUpdates")
    ordinary: list[float] = []
    send: list[float] = []
    unanswered = 0
    for user in users:
        o, s, u = user.timeline.first_answers()
        ordinary += o
        send += s
        unanswered += u
    if finished < count:
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    if log is not None:
        with log.open("ab") as out:
            out.write(err)
    receipts = [t for u in users if (t := u.timeline.send_to_receipt()) is not None]
    return Round(bot, last - started, len(ordinary) + len(send), ordinary, send, unanswered,
                 finished, count, stalled, receipts, calls, cpu)


def _show(r: Round) -> str:
    ms = 1000.0
    line = (f"{r.bot:6} {r.finished:4}/{r.users} done  {r.seconds:6.1f} s  "
            f"{r.throughput:6.1f} answered actions/s  ordinary p50 "
            f"{_percentile(r.ordinary, 0.5) * ms:6.0f} ms p99 "
            f"{_percentile(r.ordinary, 0.99) * ms:6.0f} ms")
    if r.send:
        line += (f"  Send p50 {_percentile(r.send, 0.5) * ms:5.0f} ms "
                 f"p99 {_percentile(r.send, 0.99) * ms:5.0f} ms")
    if r.receipts:
        line += f"  Send->receipt p99 {_percentile(r.receipts, 0.99) * ms:5.0f} ms"
    if r.unanswered:
        line += f"  unanswered {r.unanswered}"
    return line + f"  CPU {r.cpu_per_action * ms:.1f} ms/action"


async def main(args: argparse.Namespace) -> int:
    pause = tuple(float(x) for x in args.pause.split(","))
    assert len(pause) == 2
    rounds: list[Round] = []
    slowed: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="intake-load-") as tmp:
        work = Path(tmp)
        async with BotApiStandIn(TOKEN) as standin:
            first_user = 810_001
            echo_actions = 0
            for number in range(args.rounds):
                for bot in ("intake", "echo", "echo30"):
                    result = await run_round(
                        standin, bot, args.witnesses, first_user, pause=pause,  # type: ignore[arg-type]
                        echo_actions=echo_actions, work=work,
                        profile=args.profile if bot == "intake" else None,
                        log=args.log if bot == "intake" else None,
                        unpaced=args.unpaced,
                    )
                    first_user += args.witnesses + 1
                    if bot == "intake":
                        # The echo users act as often as this round's witnesses did.
                        echo_actions = round(result.answered / max(1, result.users))
                    rounds.append(result)
                    print(f"round {number + 1} {_show(result)}", flush=True)
                    print(f"    {result.calls_per_action()}", flush=True)
                    for reason in result.stalled[:3]:
                        print(f"    stalled: {reason}")
                    if bot == "intake" and args.slow_download > 0:
                        slow = await run_round(
                            standin, "intake", args.witnesses, first_user,
                            pause=pause,  # type: ignore[arg-type]
                            echo_actions=echo_actions, work=work, profile=None,
                            unpaced=args.unpaced, slow_download=args.slow_download,
                        )
                        first_user += args.witnesses + 1
                        slow.bot = "slow"
                        slowed.append(slow)
                        print(f"round {number + 1} {_show(slow)}  (one more chat's file: "
                              f"{args.slow_download:.0f} s)", flush=True)
    intake = [r for r in rounds if r.bot == "intake"]
    echo = [r for r in rounds if r.bot == "echo"]
    echo30 = [r for r in rounds if r.bot == "echo30"]
    ratio = statistics.median(
        i.throughput / e.throughput for i, e in zip(intake, echo, strict=True)
    )
    ratio30 = statistics.median(
        i.throughput / e.throughput for i, e in zip(intake, echo30, strict=True)
    )
    ordinary = [x for r in intake for x in r.ordinary]
    send = [x for r in intake for x in r.send]
    receipts = [x for r in intake for x in r.receipts]
    echo_latency = [x for r in echo for x in r.ordinary]
    echo30_latency = [x for r in echo30 for x in r.ordinary]
    ms = 1000.0
    print(f"\n{args.witnesses} users a round, pause {pause[0]}-{pause[1]} s, "
          f"{args.rounds} rounds each" + ("; intake's pacing lifted" if args.unpaced else ""))
    cpu_ratio = statistics.median(
        i.cpu_per_action / e.cpu_per_action for i, e in zip(intake, echo, strict=True)
    )
    print(f"CPU per answered action, intake/echo (median of round pairs): {cpu_ratio:.1f}x  "
          f"(intake {statistics.median(r.cpu_per_action for r in intake) * 1000:.1f} ms, "
          f"echo {statistics.median(r.cpu_per_action for r in echo) * 1000:.1f} ms)")
    print(f"throughput intake/echo (median of round pairs): {ratio:.2f}  (target >= 0.85)")
    print(f"throughput intake/echo within Telegram's 30 messages/s (PTB AIORateLimiter): "
          f"{ratio30:.2f}")
    print(f"intake first answer, ordinary steps: p50 {_percentile(ordinary, 0.5) * ms:.0f} ms, "
          f"p99 {_percentile(ordinary, 0.99) * ms:.0f} ms  (target p99 < 1000 ms)")
    print(f"intake first answer, Send:           p50 {_percentile(send, 0.5) * ms:.0f} ms, "
          f"p99 {_percentile(send, 0.99) * ms:.0f} ms  (target p99 < 2000 ms)")
    print(f"intake Send to receipt code:         p50 {_percentile(receipts, 0.5) * ms:.0f} ms, "
          f"p99 {_percentile(receipts, 0.99) * ms:.0f} ms")
    print(f"echo first answer:                   p50 {_percentile(echo_latency, 0.5) * ms:.0f} ms,"
          f" p99 {_percentile(echo_latency, 0.99) * ms:.0f} ms")
    print(f"echo within 30 messages/s, first answer: p50 "
          f"{_percentile(echo30_latency, 0.5) * ms:.0f} ms,"
          f" p99 {_percentile(echo30_latency, 0.99) * ms:.0f} ms")
    # The response time law of a closed system: N users who each wait for an answer, then pause
    # Z on average, served at most X times a second, wait on average at least N / X - Z.
    floor = args.witnesses / TELEGRAM_MESSAGES_A_SECOND - (pause[0] + pause[1]) / 2
    print(f"least mean wait of any bot within {TELEGRAM_MESSAGES_A_SECOND} messages/s: "
          f"{max(floor, 0.0) * ms:.0f} ms  ({args.witnesses} / {TELEGRAM_MESSAGES_A_SECOND} "
          f"- mean pause)")
    if slowed:
        with_slow = [x for r in slowed for x in r.ordinary]
        print(f"other chats' p99 first answer with one chat's file taking "
              f"{args.slow_download:.0f} s: {_percentile(with_slow, 0.99) * ms:.0f} ms against "
              f"{_percentile(ordinary, 0.99) * ms:.0f} ms without: "
              f"{_percentile(with_slow, 0.99) / _percentile(ordinary, 0.99):.2f}x "
              "(target within 1.10x)")
    complete = sum(r.finished for r in intake)
    print(f"intake reports completed with a receipt: {complete}/{sum(r.users for r in intake)}")
    return 0 if complete == sum(r.users for r in intake) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--witnesses", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pause", default="1.0,2.0", help="seconds between actions: low,high")
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--log", type=Path, default=None, help="append intake's log here")
    parser.add_argument("--slow-download", type=float, default=0.0, metavar="SECONDS",
                        help="also run each intake round with one chat's file this slow")
    parser.add_argument("--unpaced", action="store_true",
                        help="lift intake's own pacing (its ceiling against the bare echo bot)")
    sys.exit(asyncio.run(main(parser.parse_args())))
