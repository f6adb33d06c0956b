"""One send budget, however many workers: 1, 2, 4 and 8 `intake serve --webhook` workers on one
PostgreSQL against the Bot API stand-in with Telegram's flood limits on (standin FloodLimits:
30 messages a second overall, one a second per chat after a burst of three).

Run: INTAKE_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
     .venv/bin/python bench/send_budget_workers.py [--witnesses 100] [--workers 1,2,4,8]

For each worker count, a fresh database and N scripted witnesses (pausing 1 to 2 s between
actions, 0.3 s settle) report from /start to the receipt code, Telegram's webhook delivering
to the workers in turn. Printed per run: receipts, reports stored and found by their receipt
(no duplicates: as many reports as witnesses), the 429s Telegram would have answered, and the
most message-sending calls that reached the stand-in within any one second. Exits non-zero
unless every run has zero 429s, at most 30 in any second, every receipt and no duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.flood_run import FloodRun, run_workers


def good(run: FloodRun) -> bool:
    return (run.refused == 0 and run.most_in_a_second <= 30 and run.finished == run.witnesses
            and run.reports == run.witnesses and run.receipts_matched == run.witnesses)


async def main(args: argparse.Namespace) -> int:
    runs = []
    for workers in (int(n) for n in args.workers.split(",")):
        with tempfile.TemporaryDirectory(prefix="send-budget-") as tmp:
            run = await run_workers(Path(tmp), workers, args.witnesses)
        runs.append(run)
        print(("ok   " if good(run) else "FAIL ") + run.show(), flush=True)
        if run.failure and args.verbose:
            print(run.failure[-5000:])
    return 0 if all(good(r) for r in runs) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--witnesses", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--verbose", action="store_true")
    sys.exit(asyncio.run(main(parser.parse_args())))
