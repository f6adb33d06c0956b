"""Two `intake serve --webhook` workers on one PostgreSQL, Telegram delivering to each in turn:
one is killed half-way through a witness's report, and the witness finishes on the other."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from bot.core import DEFAULT_QUESTIONNAIRE
from crypto.drafts import DraftKeyring
from standin import BotApiStandIn
from standin.witness_script import WitnessScript
from standin.witnesses import ScriptedWitness
from tests.e2e.serve_process import TOKEN, ServeProcesses, outcome, prepare_store, report_canaries
from tests.support import fresh_postgres_database

pytestmark = pytest.mark.slow

SCRIPT = WitnessScript.from_toml(DEFAULT_QUESTIONNAIRE)
SECRET = "webhook-secret-" + "0123456789abcdef" * 2


def _free_ports(count: int) -> list[int]:
    """Distinct free ports (probes held open together, so none is handed out twice)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


async def _listening(
    process: asyncio.subprocess.Process, port: int, timeout: float = 120.0
) -> None:
    """Wait until the worker accepts connections; if it exits first, fail with what it said."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if process.returncode is not None:
            assert process.stderr is not None
            said = (await process.stderr.read()).decode(errors="replace")
            raise AssertionError(f"worker on {port} exited {process.returncode}: {said[-2000:]}")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)
            continue
        writer.close()
        return


async def test_a_worker_dies_and_the_witness_finishes_on_the_other(tmp_path: Path) -> None:
    """Updates alternate between two workers; one is SIGKILLed half-way; the witness keeps every
    earlier answer, finishes on the survivor in order, and exactly one report is stored."""
    async with fresh_postgres_database() as database_url:
        data_dir = tmp_path / "data"
        secret_file = tmp_path / "webhook.secret"
        secret_file.write_text(SECRET)
        secret_file.chmod(0o600)  # refused otherwise, as ssh refuses an open key
        draft_key = tmp_path / "draft.key"
        DraftKeyring.generate_file(draft_key)
        reviewer = await prepare_store(database_url, data_dir)
        ports = _free_ports(2)
        async with BotApiStandIn(TOKEN) as standin:
            serve = ServeProcesses(data_dir, database_url, standin.root_url, draft_key, {
                "INTAKE_WEBHOOK_SECRET_FILE": str(secret_file),
                "INTAKE_PAYLOADS": "database",
            })
            first = await serve.start(
                "--webhook", INTAKE_WEBHOOK_LISTEN=f"127.0.0.1:{ports[0]}",
                INTAKE_WEBHOOK_URL="https://intake.example.org/telegram",
            )
            second = await serve.start(
                "--webhook", INTAKE_WEBHOOK_LISTEN=f"127.0.0.1:{ports[1]}"
            )
            for process, port in zip((first, second), ports, strict=True):
                await _listening(process, port)
            targets = [f"http://127.0.0.1:{port}/telegram" for port in ports]
            standin.webhook_targets = targets
            witness = ScriptedWitness(
                standin.user(720_001, "Witness"), SCRIPT, seed=3, pause=(0.8, 1.2), patience=90
            )
            running = asyncio.create_task(witness.run())
            while len(witness.record.actions) < 6:
                await asyncio.sleep(0.2)
            served_before = dict(standin.webhook_stats.by_target)
            await serve.kill(first)
            record = await asyncio.wait_for(running, 300)
            served_after = dict(standin.webhook_stats.by_target)
            await serve.stop_all()
        assert served_before.get(targets[0], 0) > 0 and served_before.get(targets[1], 0) > 0
        assert served_after[targets[1]] > served_before[targets[1]]
        assert record.stalled is None, (record.stalled, record.texts[-3:])
        assert record.receipt_code is not None
        assert not record.started_over and record.misfiled == []
        assert record.missing_from_summary == [] and record.repeated_questions == []
        result = await outcome(
            database_url, data_dir, reviewer, [record], payloads="database"
        )
        assert len(result.reports) == 1
        assert set(record.canaries.values()) <= report_canaries(result.reports[0])
        assert result.receipt_owner == {result.reports[0].summary.report_id: record.receipt_code}
