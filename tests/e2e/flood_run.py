"""N `intake serve --webhook` workers on one PostgreSQL (or one on SQLite) against the stand-in
with Telegram's flood limits on, and scripted witnesses reporting through them: what Telegram
would have refused, how many messages landed in the busiest second, and whether every witness
got exactly one report and its receipt. Used by tests/e2e/test_send_budget_workers.py and
bench/send_budget_workers.py."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import resource
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bot.core import DEFAULT_QUESTIONNAIRE
from crypto.drafts import DraftKeyring
from standin import BotApiStandIn, FaultKind, FloodLimits
from standin.faults import SENDING_METHODS
from standin.witness_script import WitnessScript
from standin.witnesses import run_witnesses
from tests.e2e.serve_process import TOKEN, ServeProcesses, failure_report, outcome, prepare_store
from tests.e2e.test_webhook_workers import SECRET, _free_ports, _listening
from tests.support import fresh_postgres_database, most_in_one_second

SCRIPT = WitnessScript.from_toml(DEFAULT_QUESTIONNAIRE)


@dataclass
class FloodRun:
    workers: int
    witnesses: int
    seconds: float
    refused: int  # 429s the flood limits answered
    sent: int  # message-sending calls that reached the stand-in
    most_in_a_second: int  # of those, the most within any one second
    finished: int  # witnesses who got their receipt code
    reports: int  # reports stored
    receipts_matched: int  # receipt codes that find a stored report
    failure: str  # what to print when something went wrong
    worker_cpu: float = 0.0  # CPU seconds the workers used during the witnesses' run
    database_cpu: float = 0.0  # and PostgreSQL's backends serving them
    bench_cpu: float = 0.0  # and this process (the stand-in and the witnesses)
    load: tuple[float, float] = (0.0, 0.0)  # the 1-minute load average at the start and end
    # The longest this process's event loop (the stand-in's, where calls are counted as they
    # are handled) was held up: calls sent meanwhile are counted together once it runs again.
    stall: float = 0.0

    def show(self) -> str:
        return (f"{self.workers} worker(s): {self.finished}/{self.witnesses} receipts, "
                f"{self.reports} reports ({self.receipts_matched} found by their receipt), "
                f"{self.refused} 429s, {self.sent} messages sent, at most "
                f"{self.most_in_a_second} in one second, {self.seconds:.1f} s; CPU s: workers "
                f"{self.worker_cpu:.0f}, PostgreSQL {self.database_cpu:.0f}, stand-in and "
                f"witnesses {self.bench_cpu:.0f} ({self.cpu_share:.0%} of 2 cores); load "
                f"{self.load[0]:.1f} -> {self.load[1]:.1f}; stand-in held up "
                f"{self.stall * 1000:.0f} ms at most")

    @property
    def cpu_share(self) -> float:
        """Of what the machine's cores could give in the run's wall time, the share used."""
        cores = os.cpu_count() or 1
        used = self.worker_cpu + self.database_cpu + self.bench_cpu
        return used / (self.seconds * cores) if self.seconds else 0.0


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a running process has used so far (Linux /proc); 0 when
    it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backend_pids(database_url: str) -> list[int]:
    """The PostgreSQL server processes connected to this database (when on this machine)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"))
            return [int(r[0]) for r in rows]
    finally:
        await engine.dispose()


async def longest_stall(tick: float = 0.01) -> float:
    """Until cancelled: how much later than asked this event loop woke, at most (returned
    through the task's result on cancellation)."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    try:
        while True:
            asked = loop.time()
            await asyncio.sleep(tick)
            worst = max(worst, loop.time() - asked - tick)
    except asyncio.CancelledError:
        return worst


def _ahead_for_cpu() -> int | None:
    """Raise this process's scheduling priority; its niceness before, or None if not allowed."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except PermissionError:
        return None
    return before


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.asynccontextmanager
async def _database(tmp_path: Path, sqlite: bool) -> AsyncIterator[str]:
    if sqlite:
        yield f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


async def run_workers(
    tmp_path: Path, workers: int, witnesses: int, *, seed: int = 1,
    pause: tuple[float, float] = (1.0, 2.0), settle: float = 0.3, sqlite: bool = False,
) -> FloodRun:
    """`sqlite`: one process on an SQLite file (its own budget, not the shared one)."""
    assert workers == 1 or not sqlite, "SQLite serves one process"
    async with _database(tmp_path, sqlite) as database_url:
        data_dir = tmp_path / "data"
        secret_file = tmp_path / "webhook.secret"
        secret_file.write_text(SECRET)
        secret_file.chmod(0o600)  # refused otherwise, as ssh refuses an open key
        draft_key = tmp_path / "draft.key"
        DraftKeyring.generate_file(draft_key)
        reviewer = await prepare_store(database_url, data_dir)
        ports = _free_ports(workers)
        async with BotApiStandIn(TOKEN, flood_limits=FloodLimits()) as standin:
            serve = ServeProcesses(data_dir, database_url, standin.root_url, draft_key, {
                "INTAKE_WEBHOOK_SECRET_FILE": str(secret_file),
                "INTAKE_PAYLOADS": "directory" if sqlite else "database",
                "INTAKE_LOG_LEVEL": "WARNING",
            })
            niceness: int | None = None
            try:
                processes = []
                for number, port in enumerate(ports):
                    url = {"INTAKE_WEBHOOK_URL": "https://intake.example.org/telegram"}
                    processes.append(await serve.start(
                        "--webhook", INTAKE_WEBHOOK_LISTEN=f"127.0.0.1:{port}",
                        **(url if number == 0 else {}),
                    ))
                for process, port in zip(processes, ports, strict=True):
                    await _listening(process, port)
                standin.webhook_targets = [f"http://127.0.0.1:{port}/telegram" for port in ports]
                calls_before = len(standin.calls)
                pids = [p.pid for p in processes]
                backends = [] if sqlite else await backend_pids(database_url)
                cpu_before = [cpu_seconds(p) for p in pids]
                db_before = {p: cpu_seconds(p) for p in backends}
                bench_before = own_cpu()
                load_before = os.getloadavg()[0]
                # The stand-in counts a call when its handler runs, in this process, beside
                # 100 witnesses: a full garbage collection here (137 ms measured) held up the
                # calls sent meanwhile, and counted them together (33 "in one second" where
                # the workers had sent at most 28). Telegram does not pause for our harness.
                gc.collect()
                gc.freeze()
                gc.disable()
                # For the same reason, ahead of the workers and everything else on the machine
                # for the CPU (if allowed; the workers, started already, keep theirs): at load
                # 10 on 2 cores, it was held up 329 ms and counted 34 calls in one second.
                niceness = _ahead_for_cpu()
                started = time.monotonic()
                watch = asyncio.create_task(longest_stall())
                records = await run_witnesses(
                    standin, witnesses, script=SCRIPT, seed=seed, pause=pause,
                    patience=120.0, settle=settle,
                )
                seconds = time.monotonic() - started
                watch.cancel()
                stall = await watch
                worker_cpu = sum(cpu_seconds(p) for p in pids) - sum(cpu_before)
                bench_cpu = own_cpu() - bench_before
                # Backends opened during the run count from zero.
                database_cpu = 0.0 if sqlite else sum(
                    cpu_seconds(p) - db_before.get(p, 0.0)
                    for p in await backend_pids(database_url))
                load = (load_before, os.getloadavg()[0])
                # Receipts committed last may still be on their way.
                await asyncio.sleep(2.0)
                sending = [c for c in standin.calls[calls_before:] if c.method in SENDING_METHODS]
                refused = standin.faults_injected(FaultKind.FLOOD)
            finally:
                gc.enable()
                gc.unfreeze()
                if niceness is not None:
                    os.setpriority(os.PRIO_PROCESS, 0, niceness)
                await serve.stop_all()
            failure = ""
            if any(r.receipt_code is None for r in records):
                failure = failure_report(serve, standin, records)
        result = await outcome(database_url, data_dir, reviewer, records,
                               payloads="directory" if sqlite else "database")
    return FloodRun(
        workers=workers,
        witnesses=witnesses,
        seconds=seconds,
        refused=refused,
        sent=len(sending),
        most_in_a_second=most_in_one_second([c.time for c in sending]),
        finished=sum(r.receipt_code is not None for r in records),
        reports=len(result.reports),
        receipts_matched=len(result.receipt_owner),
        failure=failure,
        worker_cpu=worker_cpu,
        database_cpu=database_cpu,
        bench_cpu=bench_cpu,
        load=load,
        stall=stall,
    )
