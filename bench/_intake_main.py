"""`intake` as bench/intake_load.py runs it: optionally under cProfile, optionally unpaced.

Run: python bench/_intake_main.py [--profile OUT.pstats] [--unpaced] serve

--profile writes cProfile's stats when the command returns (SIGTERM stops `intake serve`
cleanly). The profiler counts the event loop thread's CPU time (time.thread_time), not the
wall clock: time spent waiting (epoll, the GIL, the database's thread) is left out, so the
figures add up to what an update costs the loop (reading that clock on every call makes the
process about three times slower: compare shares, not times). --unpaced lifts intake's own
pacing (the bot's 30 messages a second and each chat's one a second) for this process only, to
measure intake's own ceiling against a bare echo bot; the stand-in enforces no limits unless
asked to. With BENCH_DB_COUNTS=FILE in the environment it counts what reaches the database
(statements, commits, hops to SQLite's thread) and writes the totals to FILE at exit.
"""

from __future__ import annotations

import cProfile
import dataclasses
import os
import sys
import time
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


def _count_database_work(path: str) -> None:
    """Count, for the whole run, what reaches the database: SQL statements and commits (on
    every engine), hops to aiosqlite's thread (one per call it runs there) and transactions
    run whole in one hop (storage/transactions.py, where it exists); written to `path` as
    JSON when the process ends."""
    import atexit
    import json

    import aiosqlite.core
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counts = {"statements": 0, "commits": 0, "aiosqlite_hops": 0, "one_hop_transactions": 0}

    def statement(*_args: Any) -> None:
        counts["statements"] += 1

    def commit(*_args: Any) -> None:
        counts["commits"] += 1

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "commit", commit)
    hop = aiosqlite.core.Connection._execute

    async def counted_hop(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counts["aiosqlite_hops"] += 1
        return await hop(self, fn, *args, **kwargs)

    aiosqlite.core.Connection._execute = counted_hop  # type: ignore[method-assign]
    try:
        from storage.transactions import Transactions
    except ImportError:  # before transactions ran in one hop
        pass
    else:
        for name in ("_read", "_write"):
            whole = getattr(Transactions, name)

            def counted(self: Any, work: Any, _whole: Any = whole) -> Any:
                counts["one_hop_transactions"] += 1
                return _whole(self, work)

            setattr(Transactions, name, counted)
    atexit.register(lambda: Path(path).write_text(json.dumps(counts)))


def main(argv: list[str]) -> None:
    if os.environ.get("BENCH_DB_COUNTS"):
        _count_database_work(os.environ["BENCH_DB_COUNTS"])
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
