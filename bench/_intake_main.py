"""`intake` as bench/intake_load.py runs it: optionally under cProfile, optionally unpaced.

Run: python bench/_intake_main.py [--profile OUT.pstats] [--unpaced] serve

--profile writes cProfile's stats when the command returns (SIGTERM stops `intake serve`
cleanly). --unpaced lifts intake's own pacing (the bot's 30 messages a second and each chat's
one a second) for this process only, to measure intake's own ceiling against a bare echo bot;
the stand-in enforces no limits unless asked to.
"""

from __future__ import annotations

import cProfile
import dataclasses
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_UNLIMITED = 1_000_000.0


def _lift_pacing() -> None:
    import bot.telegram.bot_unit as bot_unit
    import bot.telegram.runtime as runtime
    import cli.app as app

    # Each bot's send budget is made in bot_unit.py (one per bot of the installation).
    bot_unit.TELEGRAM_MESSAGES_PER_SECOND = _UNLIMITED  # type: ignore[attr-defined]
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
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        intake(argv, prog_name="intake")
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


if __name__ == "__main__":
    main(sys.argv[1:])
