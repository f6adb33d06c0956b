"""N `intake serve --webhook` workers on one PostgreSQL against the stand-in with Telegram's
flood limits on, and scripted witnesses reporting through them: what Telegram would have
refused, how many messages landed in the busiest second, and whether every witness got exactly
one report and its receipt. Used by tests/e2e/test_send_budget_workers.py and
bench/send_budget_workers.py."""

from __future__ import annotations

import asyncio
import time
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

    def show(self) -> str:
        return (f"{self.workers} worker(s): {self.finished}/{self.witnesses} receipts, "
                f"{self.reports} reports ({self.receipts_matched} found by their receipt), "
                f"{self.refused} 429s, {self.sent} messages sent, at most "
                f"{self.most_in_a_second} in one second, {self.seconds:.1f} s")


async def run_workers(
    tmp_path: Path, workers: int, witnesses: int, *, seed: int = 1,
    pause: tuple[float, float] = (1.0, 2.0), settle: float = 0.3,
) -> FloodRun:
    async with fresh_postgres_database() as database_url:
        data_dir = tmp_path / "data"
        secret_file = tmp_path / "webhook.secret"
        secret_file.write_text(SECRET)
        secret_file.chmod(0o600)  # the worker refuses a secret others could read
        draft_key = tmp_path / "draft.key"
        DraftKeyring.generate_file(draft_key)
        reviewer = await prepare_store(database_url, data_dir)
        ports = _free_ports(workers)
        async with BotApiStandIn(TOKEN, flood_limits=FloodLimits()) as standin:
            serve = ServeProcesses(data_dir, database_url, standin.root_url, draft_key, {
                "INTAKE_WEBHOOK_SECRET_FILE": str(secret_file),
                "INTAKE_PAYLOADS": "database",
                "INTAKE_LOG_LEVEL": "WARNING",
            })
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
                started = time.monotonic()
                records = await run_witnesses(
                    standin, witnesses, script=SCRIPT, seed=seed, pause=pause,
                    patience=120.0, settle=settle,
                )
                seconds = time.monotonic() - started
                # Receipts committed last may still be on their way.
                await asyncio.sleep(2.0)
                sending = [c for c in standin.calls[calls_before:] if c.method in SENDING_METHODS]
                refused = standin.faults_injected(FaultKind.FLOOD)
            finally:
                await serve.stop_all()
            failure = ""
            if any(r.receipt_code is None for r in records):
                failure = failure_report(serve, standin, records)
        result = await outcome(database_url, data_dir, reviewer, records, payloads="database")
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
    )
