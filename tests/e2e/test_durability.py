"""Nothing a witness does is lost, nothing is doubled: real `intake serve` processes killed with
SIGKILL at random moments while scripted witnesses report through the Bot API stand-in."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from bot.core import DEFAULT_QUESTIONNAIRE
from crypto.drafts import DraftKeyring
from standin import BotApiStandIn
from standin.witness_script import WitnessScript
from standin.witnesses import WitnessRecord, run_witnesses
from tests.e2e.serve_process import (
    TOKEN,
    ServeProcesses,
    canary_hits,
    files_at_rest,
    outcome,
    prepare_store,
    report_canaries,
)

pytestmark = pytest.mark.slow

SCRIPT = WitnessScript.from_toml(DEFAULT_QUESTIONNAIRE)
WITNESSES = 20
KILLS = 10


def _check_every_witness(records: list[WitnessRecord]) -> None:
    for record in records:
        assert record.stalled is None, (record.user_id, record.stalled, record.texts[-3:])
        assert record.receipt_code is not None, record.user_id
        assert not record.started_over, (record.user_id, record.actions)
        assert record.misfiled == [], record.misfiled
        assert record.missing_from_summary == [], record.missing_from_summary


async def test_ten_kills_lose_nothing_and_double_nothing(database_url: str, tmp_path: Path) -> None:
    """Twenty person-paced witnesses while `intake serve` is killed ten times: each witness gets
    one receipt, has exactly one report carrying their canaries, never starts over; every
    report's receipt reached its witness; no orphan payload after the sweep; and after a kill,
    with conversations half-way, no canary and no draft key byte is anywhere at rest."""
    data_dir = tmp_path / "data"
    draft_key = tmp_path / "secrets" / "draft.key"
    draft_key.parent.mkdir(mode=0o700)
    DraftKeyring.generate_file(draft_key)
    reviewer = await prepare_store(database_url, data_dir)
    rng = random.Random(20261128)  # kill moments, reproducible
    async with BotApiStandIn(TOKEN) as standin:
        serve = ServeProcesses(data_dir, database_url, standin.root_url, draft_key)
        process = await serve.start()
        witnesses = asyncio.create_task(run_witnesses(
            standin, WITNESSES, script=SCRIPT, seed=11, pause=(1.0, 2.0), patience=90.0
        ))
        half_way_hits: list[tuple[str, str]] = []
        for kill in range(KILLS):
            await asyncio.sleep(rng.uniform(1.0, 4.0))
            if witnesses.done():
                break
            await serve.kill(process)
            if kill == KILLS // 2:
                # Conversations are half-way: drafts and outbox rows are on disk, sealed.
                # Every scripted witness's canaries start with this prefix.
                half_way_hits = canary_hits(files_at_rest(data_dir), ["canary-w"])
            process = await serve.start()
        records = await asyncio.wait_for(witnesses, 600)
        await serve.stop_all()
    assert serve.kills >= KILLS // 2
    assert half_way_hits == []
    _check_every_witness(records)
    result = await outcome(database_url, data_dir, reviewer, records)
    assert len(result.reports) == WITNESSES  # none lost, none doubled
    for record in records:
        mine = set(record.canaries.values())
        carrying = [r for r in result.reports if mine <= report_canaries(r)]
        assert len(carrying) == 1, record.user_id
    assert len(result.receipt_owner) == WITNESSES  # every report's witness saw its receipt
    assert result.orphan_payloads == 0
    key = draft_key.read_bytes()
    for path in files_at_rest(data_dir):
        assert key not in path.read_bytes(), path
    logs = b"".join(serve.logs)
    assert key not in logs and TOKEN.split(":")[1].encode() not in logs

