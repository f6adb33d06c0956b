"""Peak memory of `intake serve` while many witnesses press Send at once with a big file each.

Run: .venv/bin/python bench/send_memory.py   (not part of the test suite; takes a minute or two)

The real bot runs as a child process (`python -m cli.main serve`) against the Bot API stand-in
in this process, so the stand-in's own memory is not counted. Every witness goes through the
conversation to the summary with one document of `--size-mb` MiB (the stand-in streams it
without holding it), then all press Send together. The child's peak resident set size
(VmHWM, reset through /proc/PID/clear_refs before each phase) is measured in three phases of
the same process: idle after start-up with every draft at its summary, one witness sending
alone, then all the others sending at once.
Exits 1 if the all-at-once peak exceeds `--limit-mb`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import crypto
from standin.client import FakeUser
from standin.server import BotApiStandIn

TOKEN = "424242:BENCH-token-for-the-standin-only-abc"
MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
_WAIT = 600.0  # seconds for any one bot answer: fifty sends queue behind a few slots


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS since start or the last reset) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def reset_peak(pid: int) -> bool:
    """Start a new peak-RSS window (Linux 4.0+: writing 5 to clear_refs resets VmHWM)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def answer(user: FakeUser) -> str:
    return (await user.next_bot_message(timeout=_WAIT)).text


async def press(user: FakeUser, label: str) -> str:
    for message in reversed(user.bot_messages()):
        for row in message.buttons:
            for text, data in row:
                if text == label:
                    await user.press(data)
                    return await answer(user)
    raise AssertionError(f"no button {label!r} on screen")


async def to_summary(user: FakeUser, size: int) -> None:
    """From /start to the summary with its Send button, with one document of `size` bytes."""
    await user.send_command("start")
    await answer(user)
    await press(user, "Yes, continue")
    await press(user, "Something else")
    await user.send_text("It happened")
    await answer(user)
    await press(user, "Today")
    await user.send_text("A street")
    await answer(user)
    await press(user, "Me")
    await press(user, "Done")
    await press(user, "Skip")
    await user.send_big_document(size, file_name="evidence.mp4", mime_type="video/mp4")
    await answer(user)
    await press(user, "Done")
    await press(user, "Skip")
    await press(user, "Skip")


async def send(user: FakeUser) -> None:
    """Press Send and wait for the receipt."""
    await press(user, "Send")
    while "receipt code" not in await answer(user):
        pass


async def intake(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )


async def sample_rss(pid: int, peak: list[int], stop: asyncio.Event) -> None:
    """A cross-check of VmHWM: the highest VmRSS seen every 20 ms."""
    while not stop.is_set():
        peak[0] = max(peak[0], memory_kib(pid)["VmRSS"])
        await asyncio.sleep(0.02)


async def run(witnesses: int, size: int, concurrent_files: int | None) -> dict[str, float]:
    identity = crypto.generate_identity()
    with tempfile.TemporaryDirectory(prefix="send-memory-") as scratch:
        env = {"INTAKE_DATA_DIR": str(Path(scratch) / "data"), "INTAKE_BOT_TOKEN": TOKEN,
               "INTAKE_LOG_LEVEL": "WARNING"}
        if concurrent_files is not None:
            env["INTAKE_MAX_CONCURRENT_FILES"] = str(concurrent_files)
        async with BotApiStandIn(TOKEN) as standin:
            env["INTAKE_TELEGRAM_API_URL"] = standin.root_url
            added = await intake(env, "reviewer", "add", "--name", "bench",
                                 "--recipient", str(identity.recipient))
            assert await added.wait() == 0, "intake reviewer add failed"
            bot = await intake(env, "serve")
            try:
                return await _measure(standin, bot, witnesses, size)
            finally:
                bot.terminate()
                _out, err = await asyncio.wait_for(bot.communicate(), 60)
                if bot.returncode not in (0, -15):
                    print(err.decode(errors="replace")[-2000:], file=sys.stderr)


async def _measure(
    standin: BotApiStandIn, bot: asyncio.subprocess.Process, witnesses: int, size: int
) -> dict[str, float]:
    solo = standin.user(8_000_000, "Solo")
    crowd = [standin.user(8_000_001 + n, f"W{n}") for n in range(witnesses)]
    # Start-up done once the bot answers; then every conversation up to its summary.
    await asyncio.gather(*(to_summary(user, size) for user in [solo, *crowd]))
    await asyncio.sleep(1.0)
    idle = memory_kib(bot.pid)
    can_reset = reset_peak(bot.pid)

    stop, sampled = asyncio.Event(), [0]
    sampler = asyncio.create_task(sample_rss(bot.pid, sampled, stop))
    await send(solo)
    one = memory_kib(bot.pid)["VmHWM"]
    reset_peak(bot.pid)
    sampled[0] = 0

    started = time.perf_counter()
    await asyncio.gather(*(send(user) for user in crowd))
    seconds = time.perf_counter() - started
    everyone = memory_kib(bot.pid)["VmHWM"]
    stop.set()
    await sampler
    if not can_reset:
        print("note: /proc/PID/clear_refs not writable; peaks include earlier phases")
    return {
        "idle_rss_mb": idle["VmRSS"] / 1024,
        "idle_peak_mb": idle["VmHWM"] / 1024,
        "one_peak_mb": one / 1024,
        "all_peak_mb": everyone / 1024,
        "all_sampled_mb": sampled[0] / 1024,
        "seconds": seconds,
        "downloads": float(len(standin.downloads)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--witnesses", type=int, default=50)
    parser.add_argument("--size-mb", type=int, default=20)
    parser.add_argument("--limit-mb", type=float, default=300.0)
    parser.add_argument("--concurrent-files", type=int, default=None,
                        help="INTAKE_MAX_CONCURRENT_FILES for the bot (default: its own)")
    args = parser.parse_args()
    result = asyncio.run(run(args.witnesses, args.size_mb * MiB, args.concurrent_files))
    idle, one, peak = result["idle_rss_mb"], result["one_peak_mb"], result["all_peak_mb"]
    print(f"intake serve, {args.witnesses} witnesses pressing Send at once, "
          f"{args.size_mb} MiB document each ({result['downloads']:.0f} downloads)")
    crowd = f"{args.witnesses} witnesses at once"
    print(f"  {'idle, drafts at summary':24} RSS  {idle:6.1f} MB  "
          f"(peak so far {result['idle_peak_mb']:.1f} MB)")
    print(f"  {'1 witness sending':24} peak {one:6.1f} MB  = {one / idle:.2f} x idle")
    print(f"  {crowd:24} peak {peak:6.1f} MB  = {peak / idle:.2f} x idle, "
          f"{peak / one:.2f} x one witness, +{peak - idle:.1f} MB over idle")
    print(f"  (sampled every 20 ms: {result['all_sampled_mb']:.1f} MB; all receipts in "
          f"{result['seconds']:.1f} s)")
    verdict = "within" if peak <= args.limit_mb else "OVER"
    print(f"  {verdict} the {args.limit_mb:.0f} MB limit")
    return 0 if peak <= args.limit_mb else 1


if __name__ == "__main__":
    sys.exit(main())
