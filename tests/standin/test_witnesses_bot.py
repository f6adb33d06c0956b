"""Scripted witnesses against today's bot: the real PTB stack, storage and the reviewer side."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core import DEFAULT_QUESTIONNAIRE
from review.queue import list_reports, open_report
from standin.witness_script import WitnessScript
from standin.witnesses import run_witnesses
from tests.bot.harness import running_harness

SCRIPT = WitnessScript.from_toml(DEFAULT_QUESTIONNAIRE)


async def test_three_witnesses_report_and_nothing_is_flagged(
    database_url: str, tmp_path: Path
) -> None:
    """Three concurrent witnesses each get a receipt; the reviewer opens exactly their three
    reports, every canary under the question it answered and each file intact."""
    async with running_harness(database_url, tmp_path / "data") as h:
        records = await run_witnesses(h.standin, 3, script=SCRIPT, seed=7, patience=20)
        summaries = await list_reports(h.storage)
        opened = [await open_report(h.storage, s.report_id, [h.reviewer]) for s in summaries]
    for record in records:
        assert record.stalled is None, record.stalled
        assert record.receipt_code and re.fullmatch(r"\d{4}(-\d{4}){4}", record.receipt_code)
        assert not record.started_over and record.repeated_questions == []
        assert record.misfiled == [] and record.missing_from_summary == []
        assert record.summaries_checked == 1
        assert {"what", "where"} <= set(record.canaries)
        assert record.actions.count("document") == 1
        assert record.actions.count("press:Send") == 1
    assert len({r.receipt_code for r in records}) == 3
    assert len(opened) == 3
    by_canary = {
        answer["text"]: answer["question"]
        for report in opened
        for answer in report.document["answers"]
        if answer.get("text")
    }
    for record in records:
        for question_id, canary in record.canaries.items():
            assert by_canary[canary] == question_id
    attachments = sorted(a.data for report in opened for a in report.attachments)
    assert attachments == sorted(r.file_content for r in records if r.file_content)
    assert all(a.intact for report in opened for a in report.attachments)
