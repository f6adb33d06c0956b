"""Backups and the move to PostgreSQL with real processes: `intake serve` taking reports from
scripted witnesses through the Bot API stand-in while `intake backup` runs, `intake restore` into a
fresh directory, `intake review export` and `intake verify` on the restored copy; and a SQLite
installation with drafts under way moved by `intake migrate`, its witnesses finishing on
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.core import DEFAULT_QUESTIONNAIRE
from crypto.custody import custody_public_pem
from crypto.drafts import DraftKeyring
from standin import BotApiStandIn
from standin.witness_script import WitnessScript
from standin.witnesses import WitnessRecord, run_witnesses
from storage import Storage, default_sqlite_url
from storage.server_keys import load_or_create_server_keys
from tests.e2e.serve_process import (
    TOKEN,
    ServeProcesses,
    clock_a_day_behind,
    outcome,
    prepare_store,
    report_canaries,
)
from tests.review.tsa import LocalTsa, make_tsa_pki
from tests.support import fresh_postgres_database

pytestmark = pytest.mark.slow

SCRIPT = WitnessScript.from_toml(DEFAULT_QUESTIONNAIRE)


async def _intake(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 300)
    return await process.wait(), out.decode()


async def _report_ids(database_url: str, data_dir: Path) -> set[str]:
    storage = await Storage.open(database_url, data_dir / "blobs")
    try:
        async with storage.engine.connect() as connection:
            from sqlalchemy import select

            from storage.models import ReportRow

            return set((await connection.scalars(select(ReportRow.id))).all())
    finally:
        await storage.close()


async def _drafts_under_way(
    database_url: str, data_dir: Path, standin: BotApiStandIn, chat_ids: range
) -> None:
    """Wait until at least three of the witnesses in `chat_ids` are half-way (each has been
    answered twice, so its draft was committed) and chat states are stored. Rows left by
    witnesses who already finished do not count: their trails may be cleared any moment."""
    from sqlalchemy import text

    def answered_twice() -> int:
        answers = Counter(
            call.params.get("chat_id") for call in standin.calls_to("sendMessage")
            if call.status == 200
        )
        return sum(1 for chat_id in chat_ids if answers[chat_id] >= 2)

    storage = await Storage.open(database_url, data_dir / "blobs")
    try:
        for _ in range(600):
            if answered_twice() >= 3:
                async with storage.engine.connect() as connection:
                    if (await connection.scalar(text("SELECT count(*) FROM chat_states"))) > 0:
                        return
            await asyncio.sleep(0.2)
    finally:
        await storage.close()
    raise AssertionError("no draft under way after 120 s")


def _check_witnesses(records: Sequence[WitnessRecord]) -> None:
    for record in records:
        assert record.stalled is None, (record.user_id, record.stalled, record.texts[-3:])
        assert record.receipt_code is not None, record.user_id
        assert not record.started_over, (record.user_id, record.actions)


@pytest.fixture
async def restore_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """Where a backup of `database_url`'s installation is restored: the same kind of store."""
    if database_url.startswith("sqlite"):
        yield default_sqlite_url(tmp_path / "restored")
    else:
        async with fresh_postgres_database() as url:
            yield url


async def test_a_backup_taken_while_twenty_witnesses_report_restores_whole(
    database_url: str, restore_url: str, tmp_path: Path
) -> None:
    """Twenty witnesses report (ten quick, ten slow) while `intake backup` runs: restored into
    a fresh directory, every report committed before the backup began is there and opens with
    the reviewer's key, each under the receipt code its witness was given; every draft under
    way is there and opens with the draft key kept apart; custody and the audit trail check;
    and a bundle exported from the restored copy passes `intake verify` (OK, exit 0) against
    the original installation's custody key and the authority's CA. A day is timestamped only
    once it has ended, so the installation (bot, backup, restore) runs with its wall clock a
    day behind (libfaketime): its reports fall on a day already closed, which `intake evidence
    anchor` on the original installation has a real openssl authority timestamp before the
    backup is taken; the restored copy must carry the tree and the token."""
    data_dir = tmp_path / "data"
    draft_key = tmp_path / "secrets" / "draft.key"
    draft_key.parent.mkdir(mode=0o700)
    DraftKeyring.generate_file(draft_key)
    reviewer = await prepare_store(database_url, data_dir)
    backup, kept_key = tmp_path / "backup", tmp_path / "offsite" / "draft.key"
    # The installation (the bot, its backup and its restore) runs a day behind; anchoring,
    # export and verification run by the real clock, as tomorrow's.
    behind = clock_a_day_behind()
    pki = make_tsa_pki(tmp_path / "tsa")
    tsa = LocalTsa(pki)
    await tsa.start()
    async with BotApiStandIn(TOKEN) as standin:
        serve = ServeProcesses(data_dir, database_url, standin.root_url, draft_key)
        await serve.start(**behind)
        quick_records = await asyncio.wait_for(run_witnesses(
            standin, 10, script=SCRIPT, first_user_id=720_001, seed=31, pause=(0.1, 0.3),
            patience=120.0,
        ), 300)
        # Their reports fell on a closed day: its tree is built and timestamped now, by a real
        # authority, on the installation that the backup is then taken of.
        anchored_ids = await _report_ids(database_url, data_dir)
        anchored, stamped = await _intake(serve.env(INTAKE_TSA_URLS=tsa.url,
                                                    INTAKE_TSA_CA_FILES=str(pki.ca_cert)),
                                          "evidence", "anchor")
        slow = asyncio.create_task(run_witnesses(
            standin, 10, script=SCRIPT, first_user_id=730_001, seed=32, pause=(1.5, 2.5),
            patience=120.0,
        ))
        await _drafts_under_way(database_url, data_dir, standin, range(730_001, 730_011))
        assert not slow.done()  # the backup is taken while these ten are half-way
        before = await _report_ids(database_url, data_dir)
        code, said = await _intake(serve.env(**behind), "backup", str(backup),
                                   "--draft-key-to", str(kept_key))
        after = await _report_ids(database_url, data_dir)
        slow_records = await asyncio.wait_for(slow, 300)
        await serve.stop_all()
    await tsa.stop()
    assert anchored == 0 and "timestamped" in stamped, stamped
    assert len(anchored_ids) == len(quick_records)
    assert tsa.requests >= 1
    assert code == 0, said
    records = quick_records + slow_records
    _check_witnesses(records)
    contents = json.loads((backup / "backup.json").read_bytes())
    assert contents["tables"]["chat_states"] > 0  # drafts were under way
    assert not (backup / "keys" / "draft.key").exists()
    assert draft_key.read_bytes() not in b"".join(
        p.read_bytes() for p in backup.rglob("*") if p.is_file()
    )

    restored_dir = tmp_path / "restored"
    env = {**serve.env(), "INTAKE_DATA_DIR": str(restored_dir),
           "INTAKE_DATABASE_URL": restore_url}
    env.pop("INTAKE_DRAFT_KEY_FILE")  # the restore puts the key into the new keys/
    code, said = await _intake({**env, **behind}, "restore", str(backup), "--draft-key",
                               str(kept_key))
    assert code == 0, said
    assert "everything holds" in said
    assert f"{contents['tables']['chat_states']} drafts and" in said
    assert "open with the draft key" in said

    result = await outcome(restore_url, restored_dir, reviewer, records)
    restored = {r.summary.report_id for r in result.reports}
    assert before <= restored <= after
    assert len(restored) >= 10
    for report in result.reports:  # each opens, and carries exactly one witness's canaries
        owners = [r for r in records if set(r.canaries.values()) <= report_canaries(report)]
        assert len(owners) == 1
    assert set(result.receipt_owner) == restored  # every receipt finds its report
    keys = load_or_create_server_keys(restored_dir)
    assert keys == load_or_create_server_keys(data_dir)

    # A bundle exported from the restored copy passes `intake verify` against the original
    # installation's custody key and the authority's CA, both pinned from outside the bundle:
    # the tree and the token taken before the backup came back with the restore.
    code, status = await _intake(env, "evidence", "status")
    assert code == 0 and "anchored by " + tsa.url in status, status
    identity = tmp_path / "reviewer.txt"
    identity.write_text(f"{reviewer}\n")
    published = tmp_path / "custody.pub.pem"
    published.write_bytes(custody_public_pem(load_or_create_server_keys(data_dir).custody_key))
    bundle = tmp_path / "bundle"
    code, said = await _intake(env, "review", "export", sorted(anchored_ids)[0], "--out",
                               str(bundle), "--identity", str(identity), "--to", "counsel")
    assert code == 0 and "custody signature valid" in said, said
    code, said = await _intake(env, "verify", str(bundle), "--custody-key", str(published),
                               "--tsa-ca", str(pki.ca_cert))
    assert code == 0, said
    assert "OK  Proven, against the anchors you pinned:" in said, said
    assert "FAILED" not in said and "NOT TIMESTAMPED" not in said, said
    stranger = tmp_path / "stranger.pub.pem"  # the pin matters: another key fails the bundle
    stranger.write_bytes(custody_public_pem(bytes(32)))
    code, said = await _intake(env, "verify", str(bundle), "--custody-key", str(stranger),
                               "--tsa-ca", str(pki.ca_cert))
    assert code == 1, said


async def test_an_installation_with_drafts_under_way_moves_to_postgresql(tmp_path: Path) -> None:
    """A SQLite installation taking reports is stopped with ten witnesses half-way, moved by
    `intake migrate`, and started on PostgreSQL: `intake review list` prints the same before
    and after, and every witness finishes where they were, with one report and a receipt."""
    data_dir = tmp_path / "data"
    sqlite_url = default_sqlite_url(data_dir)
    draft_key = tmp_path / "secrets" / "draft.key"
    draft_key.parent.mkdir(mode=0o700)
    DraftKeyring.generate_file(draft_key)
    reviewer = await prepare_store(sqlite_url, data_dir)
    async with fresh_postgres_database() as postgres_url, BotApiStandIn(TOKEN) as standin:
        serve = ServeProcesses(data_dir, sqlite_url, standin.root_url, draft_key)
        process = await serve.start()
        quick = asyncio.create_task(run_witnesses(
            standin, 5, script=SCRIPT, first_user_id=740_001, seed=41, pause=(0.1, 0.3),
            patience=120.0,
        ))
        slow = asyncio.create_task(run_witnesses(
            standin, 10, script=SCRIPT, first_user_id=750_001, seed=42, pause=(1.0, 2.0),
            patience=180.0,
        ))
        quick_records = await asyncio.wait_for(quick, 300)
        assert await serve.stop(process) == 0
        assert not slow.done()
        code, before = await _intake(serve.env(), "review", "list")
        assert code == 0, before
        code, said = await _intake(serve.env(), "migrate", "--to", postgres_url)
        assert code == 0, said
        assert not (data_dir / "intake.db").exists()
        moved = serve.env(INTAKE_DATABASE_URL=postgres_url)
        code, after = await _intake(moved, "review", "list")
        assert code == 0
        assert after == before
        assert len(before.splitlines()) >= 1 + len(quick_records)
        await serve.start(INTAKE_DATABASE_URL=postgres_url)
        slow_records = await asyncio.wait_for(slow, 400)
        await serve.stop_all()
        records = quick_records + slow_records
        _check_witnesses(records)
        drafts = int(said.split(" drafts,")[0].rsplit(" ", 1)[1])
        assert drafts > 0, said  # drafts were carried, and the witnesses went on with them
        result = await outcome(postgres_url, data_dir, reviewer, records)
    assert len(result.reports) == len(records)
    for record in records:
        mine = set(record.canaries.values())
        assert len([r for r in result.reports if mine <= report_canaries(r)]) == 1
    # Every receipt code, those given on SQLite too, finds its report on PostgreSQL.
    assert len(result.receipt_owner) == len(records)
