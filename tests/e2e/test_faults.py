"""Telegram misbehaving: 429 with retry_after, 502, dropped connections (before and after the
call took effect) and slow answers, each on 10% of every kind of Bot API call and download."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from bot.core import DEFAULT_QUESTIONNAIRE
from crypto.drafts import DraftKeyring
from standin import BotApiStandIn
from standin.faults import FaultKind, Faults
from standin.witness_script import WitnessScript
from standin.witnesses import run_witnesses
from tests.e2e.serve_process import (
    TOKEN,
    ServeProcesses,
    failure_report,
    outcome,
    prepare_store,
    report_canaries,
)

pytestmark = pytest.mark.slow

SCRIPT = WitnessScript.from_toml(DEFAULT_QUESTIONNAIRE)
WITNESSES = 12


async def test_every_witness_finishes_through_telegrams_faults(
    database_url: str, tmp_path: Path
) -> None:
    """With every kind of fault on 10% of calls: every witness gets a receipt, one report each,
    no question lost or answer filed under the wrong question, and the faults really happened."""
    data_dir = tmp_path / "data"
    draft_key = tmp_path / "draft.key"
    DraftKeyring.generate_file(draft_key)
    reviewer = await prepare_store(database_url, data_dir)
    faults = Faults.each(0.1, seed=20261128)
    async with BotApiStandIn(TOKEN, faults=faults) as standin:
        serve = ServeProcesses(data_dir, database_url, standin.root_url, draft_key)
        await serve.start()
        records = await run_witnesses(
            standin, WITNESSES, script=SCRIPT, seed=5, pause=(0.5, 1.0), patience=90.0
        )
        injected = collections.Counter(
            str(kind) for kind in FaultKind if standin.faults_injected(kind)
            for _ in range(standin.faults_injected(kind))
        )
        await serve.stop_all()
        if any(record.stalled is not None for record in records):
            # The serve logs and the stand-in's view of the stalled chats say where it stuck.
            print(failure_report(serve, standin, records))
    for record in records:
        assert record.stalled is None, (record.user_id, record.stalled, record.texts[-3:])
        assert record.receipt_code is not None
        assert not record.started_over and record.misfiled == []
        assert record.missing_from_summary == []
    result = await outcome(database_url, data_dir, reviewer, records)
    assert len(result.reports) == WITNESSES
    for record in records:
        mine = set(record.canaries.values())
        carrying = [r for r in result.reports if mine <= report_canaries(r)]
        assert len(carrying) == 1
    assert len(result.receipt_owner) == WITNESSES
    for kind in (FaultKind.RETRY_AFTER, FaultKind.BAD_GATEWAY, FaultKind.DROP_BEFORE,
                 FaultKind.DROP_AFTER, FaultKind.SLOW):
        assert injected[str(kind)] > 0, (kind, injected)
