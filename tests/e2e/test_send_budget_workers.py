"""Two webhook workers on one PostgreSQL share one send budget: against the stand-in with
Telegram's flood limits on, witnesses who ask for more than 30 answers a second get them
without a single 429 and never more than 30 messages in any one second, every one of them gets
a receipt, and no report is stored twice. (bench/send_budget_workers.py runs 1, 2, 4 and 8
workers with 100 witnesses.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.flood_run import run_workers

pytestmark = pytest.mark.slow


async def test_two_workers_keep_one_budget_of_30_messages_a_second(tmp_path: Path) -> None:
    # 60 witnesses acting every 0.5 to 1 s ask for more than Telegram's 30 a second.
    run = await run_workers(tmp_path, 2, 60, seed=5, pause=(0.5, 1.0))
    assert run.finished == 60, run.failure[-8000:]
    assert run.refused == 0, run.show()
    assert run.most_in_a_second <= 30, run.show()
    assert run.reports == 60 and run.receipts_matched == 60, run.show()


async def test_one_process_on_sqlite_keeps_30_messages_a_second_where_telegram_counts(
    tmp_path: Path,
) -> None:
    """One process alone holds a permit per message until a second after Telegram's answer
    (bot/telegram/send_budget.py): the stand-in, which counts a call when it handles it,
    never sees 31 in one second, and refuses nothing."""
    run = await run_workers(tmp_path, 1, 60, seed=6, pause=(0.5, 1.0), sqlite=True)
    assert run.finished == 60, run.failure[-8000:]
    assert run.refused == 0, run.show()
    assert run.most_in_a_second <= 30, run.show()
    assert run.reports == 60 and run.receipts_matched == 60, run.show()
