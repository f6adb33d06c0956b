"""The rounds of bench/intake_load.py: scripted witnesses (or echo users) against one bot process.

A round starts the bot in its own process (intake through bench/_intake_main.py, or
bench/echo_bot.py), waits until it polls, runs N users to the end, and reads what they saw:
when each action was answered, the Bot API calls the bot made, and its CPU time.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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

_T = TypeVar("_T")

TOKEN = "555000222:BENCH-intake-load-token-for-the-standin"
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

    def first_answers(self, *, skip: int = 0) -> tuple[list[float], list[float], int]:
        """(ordinary latencies, Send latencies, unanswered actions), from action `skip` on."""
        ordinary: list[float] = []
        send: list[float] = []
        unanswered = 0
        for index, (at, is_send) in enumerate(self.actions):
            if index < skip:
                continue
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


# What one user of a round did: how many actions, and the pauses between them.
Plan = tuple[int, list[float]]


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
    # getUpdates calls during the round (long polls included).
    polls: int = 0
    # Ordinary steps' first answers without each user's first action (all users start at once).
    later: list[float] = field(default_factory=list)
    # Intake's rounds: what each witness did, for the echo bots' users to do the same.
    plans: list[Plan] = field(default_factory=list)

    @property
    def cpu_per_action(self) -> float:
        return self.cpu / max(1, self.answered)

    @property
    def throughput(self) -> float:
        return self.answered / self.seconds

    def calls_per_action(self) -> str:
        per = {m: n / max(1, self.answered) for m, n in self.calls.most_common()}
        total = sum(per.values())
        return (f"{total:.2f} calls/action: " + ", ".join(f"{m} {v:.2f}" for m, v in per.items())
                + f"; and getUpdates {self.polls / max(1, self.answered):.2f}")


def percentile(values: list[float], fraction: float) -> float:
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


async def _after(delay: float, work: Awaitable[_T]) -> _T:
    if delay > 0:
        await asyncio.sleep(delay)
    return await work


async def _echo_user(user: TimedUser, plan: Plan) -> bool:
    """Act as the intake witness of the same number did: as many texts, the same pauses."""
    actions, pauses = plan
    for number in range(actions):
        await user.send_text(f"message {number} from {user.user_id}")
        try:
            await user.next_bot_message(timeout=60)
        except TimeoutError:
            return False
        user.take_bot_messages()
        if number < len(pauses):
            await asyncio.sleep(pauses[number])
    return True


async def run_round(
    standin: BotApiStandIn, bot: str, count: int, first_user: int, *,
    pause: tuple[float, float], echo_plans: list[Plan], work: Path, profile: Path | None,
    log: Path | None = None, unpaced: bool = False, slow_download: float = 0.0,
    ramp: float = 0.0,
) -> Round:
    """`ramp`: user n of N starts n/N of that many seconds after the first (0: all at once)."""
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
            runs = [_after(ramp * n / count, w.run()) for n, w in enumerate(witnesses)]
            slow: asyncio.Task[WitnessRecord] | None = None
            if slow_download > 0:
                slow = asyncio.create_task(
                    _slow_witness(standin, first_user + count, slow_download, pause))
            records: list[WitnessRecord] = await asyncio.gather(*runs)
            plans = [(len(u.timeline.actions), r.pauses)
                     for u, r in zip(users, records, strict=True)]
            finished = sum(r.finished for r in records)
            stalled = [r.stalled for r in records if r.stalled]
            # Counted up to the others' last answer, as in every round; the slow chat's
            # receipt comes later and is only waited for.
            cpu_at_end = _cpu_seconds(process.pid)
            if slow is not None:
                await slow
        else:
            plans = []
            done = await asyncio.gather(*(
                _after(ramp * n / count, _echo_user(user, plan))
                for n, (user, plan) in enumerate(zip(users, echo_plans, strict=True))
            ))
            finished = sum(done)
            cpu_at_end = _cpu_seconds(process.pid)
        last = max((u.timeline.arrivals[-1] for u in users if u.timeline.arrivals),
                   default=time.monotonic())
        cpu = cpu_at_end - cpu_before
    finally:
        err = await _stop(process)
    calls = Counter(c.method for c in standin.calls[calls_before:])
    polls = calls.pop("getUpdates", 0)
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
                 finished, count, stalled, receipts, calls, cpu, polls,
                 [x for user in users for x in user.timeline.first_answers(skip=1)[0]], plans)


def show(r: Round) -> str:
    ms = 1000.0
    line = (f"{r.bot:6} {r.finished:4}/{r.users} done  {r.seconds:6.1f} s  "
            f"{r.throughput:6.1f} answered actions/s  ordinary p50 "
            f"{percentile(r.ordinary, 0.5) * ms:6.0f} ms p99 "
            f"{percentile(r.ordinary, 0.99) * ms:6.0f} ms")
    if r.send:
        line += (f"  Send p50 {percentile(r.send, 0.5) * ms:5.0f} ms "
                 f"p99 {percentile(r.send, 0.99) * ms:5.0f} ms")
    if r.receipts:
        line += f"  Send->receipt p99 {percentile(r.receipts, 0.99) * ms:5.0f} ms"
    if r.unanswered:
        line += f"  unanswered {r.unanswered}"
    return line + f"  CPU {r.cpu_per_action * ms:.1f} ms/action"
