"""How long does an `intake` command take to start? Whole processes, against `python -c pass`.

Run: .venv/bin/python bench/cli_startup.py [--runs 9]   Not part of the test suite.

Each command runs as a fresh process (as a person or a script runs it), in turn with the
others, `--runs` times after one warm-up; printed: the median wall time and its ratio to
`python -c pass` (the interpreter's own start-up) measured in the same rounds, so a busy
machine slows both. `review list` runs on an empty store made first (schema current, so no
migration work). Target (issue 8): `intake --help` and `intake review list` under 0.3 s.

The commands run with PYTHONDONTWRITEBYTECODE removed from their environment, so the warm-up
round leaves compiled bytecode (__pycache__, ignored by git) as `pip install` does for an
installed copy; with it set, every run compiles the project's own modules again (about 0.05 s
more for `review list`).

"SQLAlchemy floor" is a 20-line script that imports SQLAlchemy's asyncio ORM with aiosqlite
and click, maps one table and runs one SELECT on the same store: the least a command reading
the store through the storage layer the design card fixes can cost. Measured on the 2-core
machine with nothing else running, three runs of 9 to 11 rounds: python -c pass 0.022 to
0.027 s, `--help` 0.047 to 0.055 s, `review list` 0.33 to 0.41 s and the floor 0.32 to 0.41 s
(the machine's speed drifts between runs; the ratio does not): `review list` is 1.02 to 1.06 x
the floor, so the 0.3 s target would take a read path without SQLAlchemy. Before the settings
left pydantic-settings for msgspec, `review list` took 0.371 s in a run where it now takes
0.332 s.

Where the time goes: `python -X importtime -m cli.main review list`. What is left for
`review list` is SQLAlchemy's core, ORM and asyncio extension (the store is read through
them), the ORM models' mapping, msgspec (the configuration) and cryptography (the server's
custody key); the questionnaire, the export and the statistics code, the bot's
conversations and the PostgreSQL dialect are not imported, and the exit skips the final garbage
collections (cli/main.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage import Storage, default_sqlite_url

INTAKE = [sys.executable, "-m", "cli.main"]

# The least any command that reads the store through SQLAlchemy's asyncio ORM can cost: import
# it with aiosqlite and click, map one table, run one SELECT, print. `review list` is measured
# against it, since the design card fixes SQLAlchemy as the storage layer.
_SQLALCHEMY_FLOOR = """
import asyncio, sys
import click
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

class Base(DeclarativeBase):
    pass

class Report(Base):
    __tablename__ = "reports"
    id: Mapped[str] = mapped_column(String, primary_key=True)

async def main() -> None:
    engine = create_async_engine("sqlite+aiosqlite:///" + sys.argv[1])
    async with async_sessionmaker(engine)() as session:
        rows = (await session.execute(select(Report.id).limit(50))).all()
    await engine.dispose()
    click.echo(rows or "no reports match")

asyncio.run(main())
"""


async def _empty_store(data_dir: Path) -> None:
    storage = await Storage.open(default_sqlite_url(data_dir), data_dir / "blobs")
    await storage.close()


def _time(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL,
                   cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - started


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="intake-startup-") as tmp:
        data_dir = Path(tmp) / "data"
        asyncio.run(_empty_store(data_dir))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("INTAKE_") and k != "PYTHONDONTWRITEBYTECODE"}
        env["INTAKE_DATA_DIR"] = str(data_dir)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "intake --help": [*INTAKE, "--help"],
            "intake review list": [*INTAKE, "review", "list"],
            "SQLAlchemy floor": [sys.executable, "-c", _SQLALCHEMY_FLOOR,
                                 str(data_dir / "intake.db")],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for round_number in range(runs + 1):
            for name, command in commands.items():
                elapsed = _time(command, env)
                if round_number:  # the first round warms the file cache
                    times[name].append(elapsed)
    base = statistics.median(times["python -c pass"])
    print(f"{'command':22} {'median s':>9} {'x python -c pass':>17}   ({runs} runs each)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:22} {median:9.3f} {median / base:17.1f}")
    floor = statistics.median(times["SQLAlchemy floor"])
    listing = statistics.median(times["intake review list"])
    print(f"intake review list / SQLAlchemy floor: {listing / floor:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    main(parser.parse_args().runs)
