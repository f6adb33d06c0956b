"""`intake` as bench/intake_load.py runs it: optionally under cProfile, optionally unpaced.

Run: python bench/_intake_main.py [--profile OUT.pstats] [--unpaced] serve

--profile writes cProfile's stats when the command returns (SIGTERM stops `intake serve`
cleanly). The profiler counts the event loop thread's CPU time (time.thread_time), not the
wall clock: time spent waiting (epoll, the GIL, the database's thread) is left out, so the
figures add up to what an update costs the loop (reading that clock on every call makes the
process about three times slower: compare shares, not times). --unpaced lifts intake's own
pacing (the bot's 30 messages a second and each chat's one a second) for this process only, to
measure intake's own ceiling against a bare echo bot; the stand-in enforces no limits unless
asked to.
"""

from __future__ import annotations

import cProfile
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_UNLIMITED = 1_000_000.0


def _lift_pacing() -> None:
    import bot.telegram.runtime as runtime
    import cli.app as app

    runtime.TELEGRAM_MESSAGES_PER_SECOND = _UNLIMITED  # type: ignore[misc]
    paced = app.bot_options

    def unpaced(*args: Any, **kwargs: Any) -> runtime.BotOptions:
        return dataclasses.replace(paced(*args, **kwargs),
                                   per_chat_messages_per_second=_UNLIMITED,
                                   per_chat_burst=1_000_000)

    app.bot_options = unpaced  # type: ignore[assignment]


def main(argv: list[str]) -> None:
    profile: str | None = None
    if argv[:1] == ["--profile"]:
        profile, argv = argv[1], argv[2:]
    if argv[:1] == ["--unpaced"]:
        _lift_pacing()
        argv = argv[1:]
    from cli.main import main as intake

    if profile is None:
        intake(argv, prog_name="intake")
        return
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        intake(argv, prog_name="intake")
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


if __name__ == "__main__":
    main(sys.argv[1:])
