"""A report's chain of custody is read through the store's index of the audit trail (issue 8).

The index must hand out exactly what the old path found by decoding the whole trail
(`report_records(all entries, id)`): the report's own entries and every batch that names one of
its items, in trail order; nothing of other reports; nothing for a malformed entry. Both for
entries written now (AuditTrail.record indexes each as it appends it) and for entries written
before the index existed (migration 0011 backfills them).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

import crypto
from cli.main import main
from review.audit import AuditTrail, concerned_refs, decode_entry
from review.audit import report_ref as ref
from review.custody.chain import CHAIN_FILE, concerns, custody_files, report_records
from review.local import LocalBackend
from storage import Storage
from storage.audit import AuditRecord
from storage.server_keys import load_or_create_server_keys
from tests.review.sealed_reports import sealed_report


def _key(report_id: str) -> bytes:
    return bytes.fromhex(ref(report_id))


async def _seqs_about(storage: Storage, report_id: str) -> list[int]:
    return [r.seq for r in await storage.audit.entries_about(_key(report_id))]


async def _seqs_of_whole_trail(storage: Storage, report_id: str) -> list[int]:
    return [r.seq for r in report_records(await storage.audit.entries(), report_id)]


async def test_index_hands_out_exactly_what_the_whole_trail_does(
    storage: Storage, tmp_path: Path
) -> None:
    """Own entries, batches naming the report's items (a re-wrap and a bulk opening), other
    reports' entries and batches, look-alikes that are not batches, a malformed entry: the
    index finds the same records, in the same order, as decoding the whole trail."""
    custody = secrets.token_bytes(32)
    reviewer = crypto.generate_identity()
    mine, other = [
        await sealed_report(storage, custody, [reviewer.recipient], attachments=[b"file"])
        for _ in range(2)
    ]
    trail = AuditTrail(storage.audit, custody)
    backend = LocalBackend(storage, trail, "alice", custody_key=custody)
    await backend.set_status(mine, "triaged")
    await backend.set_status(other, "triaged")
    await backend.record_bulk_access([(mine, 0), (mine, 1), (other, 0)])  # names both
    await backend.record_bulk_access([(other, 1)])  # names the other only
    await trail.record("ada", "keys.rewrap.start")
    await trail.record("ada", "keys.rewrap.batch", None, {"items": [[ref(mine), 1]]},
                       per_report={mine: {"items": [1]}})
    # Not a batch action: its items concern no report.
    await trail.record("ada", "keys.rewrap", None, {"items": [[ref(mine), 0]]})
    # A malformed entry naming the report (written by hand: nothing of ours writes one).
    last = await storage.audit.last()
    assert last is not None
    junk = json.dumps({"seq": last.seq + 1, "report_id": mine, "extra": 1}).encode()
    await storage.audit.append(AuditRecord(
        last.seq + 1, junk, hashlib.sha256(junk).hexdigest(), b"\0" * 64
    ), about=())
    await backend.set_priority(mine, "high")
    await backend.set_priority(other, "low")

    whole = await storage.audit.entries()
    for report_id in (mine, other, secrets.token_hex(16)):
        assert await _seqs_about(storage, report_id) == await _seqs_of_whole_trail(
            storage, report_id
        )
    chain = await backend.custody_records(mine)
    assert chain == report_records(whole, mine)
    actions = [decode_entry(r.entry).action for r in chain]
    assert actions == ["report.status", "access.opened.batch", "keys.rewrap.batch",
                       "report.priority"]

    # The export reads the same chain, up to its own entry.
    report = await backend.get_report(mine)
    files = await custody_files(backend, report)
    lines = [json.loads(line) for line in files[CHAIN_FILE].splitlines()]
    # Entries from before the report's own chain (none here: every entry above wrote its
    # chain entry too), then the chain, up to the export.
    assert [line["n"] for line in lines] == [1, 2, 3, 4, 5]
    assert [json.loads(line["entry"])["action"] for line in lines] == [*actions, "access.exported"]


def _entry(seq: int, action: str, report_id: object, details: object) -> bytes:
    fields = {"seq": seq, "at": "2026-11-24T12:00:00+00:00", "actor": "ada", "action": action,
              "report_id": report_id, "details": details, "prev": "0" * 64}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _trail_before_the_index(mine: str, other: str, fillers: list[str]) -> list[bytes]:
    """Entries as a store of before migration 0011 may hold them (hashes and signatures do not
    matter to the index), malformed ones too."""
    batch = "keys.rewrap.batch"
    entries = [
        _entry(0, "report.status", mine, {"status": "closed"}),
        _entry(0, "report.status", other, {"status": "closed"}),
        _entry(0, batch, None, {"items": [[ref(mine), 0], [ref(mine), 1], [ref(other), 0]]}),
        _entry(0, "access.opened.batch", None, {"items": [[ref(other), 1]], "via": "console"}),
        _entry(0, "keys.rewrap.start", None, {}),
        b"{not json",
        _entry(0, "report.status", mine, {}).replace(b'"seq"', b'"extra":1,"seq"'),
        _entry(0, batch, None, {"items": {"a": [ref(mine), 0]}}),
        _entry(0, batch, None, {"items": [ref(mine), 0]}),  # pairs that are not lists
        _entry(0, batch, None, [[ref(mine), 0]]),  # details not an object
        _entry(0, "keys.rewrap", None, {"items": [[ref(mine), 0]]}),  # not a batch action
        _entry(0, batch, other, {"items": [[ref(mine), 0]]}),  # a report's own entry
        _entry(0, batch, None, {"items": [[ref(mine).upper(), 0], [], [7], "x"]}),
        _entry(0, "report.status", 7, {}),
        _entry(0, "report.status", "ünïcödé", {}),
        b"[" * 100_000 + b"]" * 100_000,  # nested deeper than json reads
        # A trail longer than one page of the backfill (5,000 entries).
        *(_entry(0, "report.status", filler, {"status": "new"}) for filler in fillers),
        _entry(0, "access.exported", mine, {"items": [0, 1]}),
    ]
    return [e.replace(b'"seq":0', f'"seq":{n}'.encode()) for n, e in enumerate(entries, 1)]


async def test_migration_indexes_the_trail_already_there(
    empty_database_url: str, tmp_path: Path
) -> None:
    """A store at 0008 with a trail upgrades: the index holds exactly the (report, entry) pairs
    that the rule of new entries gives, and each report's chain is what the whole trail says."""
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.database import _alembic_config

    mine, other = secrets.token_hex(16), secrets.token_hex(16)
    fillers = [secrets.token_hex(16) for _ in range(5_010)]
    entries = _trail_before_the_index(mine, other, fillers)
    (tmp_path / "data").mkdir(exist_ok=True)
    engine = create_async_engine(empty_database_url)
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0008"))
        # What a backfill cut short leaves on SQLite (the CREATE commits on its own): the table,
        # part of its rows, the store still at 0008. The upgrade must start again, not fail.
        binary = "BLOB" if empty_database_url.startswith("sqlite") else "BYTEA"
        await connection.execute(text(
            f"CREATE TABLE audit_reports (report_ref {binary} NOT NULL, seq INTEGER NOT NULL, "
            "PRIMARY KEY (report_ref, seq))"
        ))
        await connection.execute(text(
            "INSERT INTO audit_reports (report_ref, seq) VALUES (:k, 999999)"
        ), {"k": _key(mine)})
        await connection.execute(text(
            "INSERT INTO audit_log (seq, entry, entry_hash, signature) VALUES (:s, :e, :h, :g)"
        ), [{"s": n, "e": e, "h": hashlib.sha256(e).hexdigest(), "g": b"\0" * 64}
            for n, e in enumerate(entries, 1)])
    await engine.dispose()

    storage = await Storage.open(empty_database_url, tmp_path / "blobs")
    try:
        records = await storage.audit.entries()
        assert [r.entry for r in records] == entries
        async with storage.engine.connect() as connection:
            indexed = set((await connection.execute(
                text("SELECT report_ref, seq FROM audit_reports")
            )).all())
        expected = set()
        for record in records:
            try:
                entry = decode_entry(record.entry)
            except (ValueError, TypeError):
                continue
            expected |= {(bytes.fromhex(r), record.seq) for r in concerned_refs(entry)}
        assert {(bytes(k), s) for k, s in indexed} == expected
        assert len(expected) == 2 + 2 + 1 + 1 + len(fillers) + 1
        for report_id in (mine, other, fillers[0], fillers[-1], secrets.token_hex(16)):
            assert await _seqs_about(storage, report_id) == await _seqs_of_whole_trail(
                storage, report_id
            )
        assert await _seqs_about(storage, mine) == [1, 3, len(entries)]
    finally:
        await storage.close()


def test_concerned_refs_is_the_rule_of_concerns() -> None:
    """For every entry and report id: concerns(entry, id) exactly when the entry is indexed
    under report_ref(id)."""
    mine, other = secrets.token_hex(16), secrets.token_hex(16)
    ids = [mine, other, mine.upper(), "", secrets.token_hex(16)]
    for encoded in _trail_before_the_index(mine, other, [secrets.token_hex(16)]):
        try:
            entry = decode_entry(encoded)
        except (ValueError, TypeError):
            continue
        refs = concerned_refs(entry)
        for report_id in ids:
            assert concerns(entry, report_id) == (ref(report_id) in refs), (encoded, report_id)


async def test_audit_verify_names_an_entry_the_index_misses(storage: Storage) -> None:
    """A deleted index row would drop an entry from its report's chain without breaking the
    hash chain; `intake audit verify` looks each entry's rows up too (a page at a time), and
    names that entry. A row too many puts nothing into a chain: concerns() still decides."""
    trail = AuditTrail(storage.audit, secrets.token_bytes(32))
    mine, other = secrets.token_hex(16), secrets.token_hex(16)
    await trail.record("alice", "report.status", mine, {"status": "closed"})
    await trail.record("alice", "report.status", other, {"status": "closed"})
    batch = await trail.record(
        "ada", "keys.rewrap.batch", None, {"items": [[ref(mine), 0], [ref(other), 0]]}
    )
    stranger = await trail.record("alice", "report.status", other, {"status": "new"})
    await trail.record("alice", "report.status", mine, {"status": "new"})
    assert (await trail.verify(page=2)).ok
    remove = text("DELETE FROM audit_reports WHERE report_ref = :k AND seq = :s")
    add = text("INSERT INTO audit_reports (report_ref, seq) VALUES (:k, :s)")
    async with storage.engine.begin() as connection:
        await connection.execute(remove, {"k": _key(mine), "s": batch.seq})
    result = await trail.verify(page=2)
    assert (result.ok, result.entries, result.first_broken) == (False, 5, batch.seq)
    assert "audit_reports" in (result.problem or "")
    async with storage.engine.begin() as connection:
        await connection.execute(add, {"k": _key(mine), "s": batch.seq})
        await connection.execute(add, {"k": _key(mine), "s": stranger.seq})
    assert (await trail.verify(page=2)).ok
    assert stranger.seq in await _seqs_about(storage, mine)
    chain = report_records(await storage.audit.entries_about(_key(mine)), mine)
    assert [r.seq for r in chain] == await _seqs_of_whole_trail(storage, mine) == [1, 3, 5]


async def test_audit_show_report_lists_its_own_entries_through_the_index(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    """`intake audit show --report ID` reads the report's entries through the index and lists
    its own (not the batches naming it, as before), the newest N with --last."""
    data_dir = tmp_path / "data"
    trail = AuditTrail(storage.audit, load_or_create_server_keys(data_dir).custody_key)
    mine, other = secrets.token_hex(16), secrets.token_hex(16)
    for status in ("triaged", "closed"):
        await trail.record("alice", "report.status", mine, {"status": status})
        await trail.record("alice", "report.status", other, {"status": status})
    await trail.record("ada", "keys.rewrap.batch", None, {"items": [[ref(mine), 0]]})
    env = {"INTAKE_DATA_DIR": str(data_dir), "INTAKE_DATABASE_URL": database_url}

    def show(*args: str) -> list[str]:
        result = CliRunner().invoke(main, ["audit", "show", *args], env=env,
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    lines = await asyncio.to_thread(show, "--report", mine)
    assert [line.split("\t")[:5] for line in lines] == [
        [str(seq), line.split("\t")[1], "alice", "report.status", mine]
        for seq, line in zip((1, 3), lines, strict=True)
    ]
    assert '{"status":"closed"}' in lines[1]
    assert [line.split("\t")[0] for line in await asyncio.to_thread(
        show, "--report", mine, "--last", "1"
    )] == ["3"]
    assert await asyncio.to_thread(show, "--report", secrets.token_hex(16)) == [
        "no audit entries"
    ]


async def test_audit_verify_says_the_index_lacks_an_entry_not_that_the_chain_broke(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    """The entries and signatures are intact: the one line says the index is incomplete."""
    data_dir = tmp_path / "data"
    trail = AuditTrail(storage.audit, load_or_create_server_keys(data_dir).custody_key)
    mine = secrets.token_hex(16)
    first = await trail.record("alice", "report.status", mine, {"status": "closed"})
    await trail.record("alice", "report.status", mine, {"status": "new"})
    async with storage.engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM audit_reports WHERE report_ref = :k AND seq = :s"),
            {"k": _key(mine), "s": first.seq},
        )
    env = {"INTAKE_DATA_DIR": str(data_dir), "INTAKE_DATABASE_URL": database_url}
    result = await asyncio.to_thread(CliRunner().invoke, main, ["audit", "verify"], env=env)
    assert result.exit_code == 1, result.exception
    [line] = result.output.splitlines()
    assert line.startswith("Error: audit trail index incomplete at entry 1 of 2: the entries "
                           "and their signatures are intact"), line
    assert "intake audit reindex" in line

    def intake(*args: str) -> list[str]:
        done = CliRunner().invoke(main, ["audit", *args], env=env, catch_exceptions=False)
        assert done.exit_code == 0, done.output
        return done.output.splitlines()

    assert await asyncio.to_thread(intake, "reindex") == ["audit trail index: 1 rows added"]
    assert await asyncio.to_thread(intake, "reindex") == [
        "audit trail index: complete, nothing to add"
    ]
    assert (await asyncio.to_thread(intake, "verify"))[0].startswith("audit trail intact: 2")
    assert await _seqs_about(storage, mine) == [1, 2]


async def test_custody_records_are_read_through_the_index(storage: Storage) -> None:
    """An entry the index lacks is not in the report's chain: the chain is read through the
    index (what `intake audit verify` guards), not by decoding the whole trail."""
    custody = secrets.token_bytes(32)
    reviewer = crypto.generate_identity()
    mine = await sealed_report(storage, custody, [reviewer.recipient])
    trail = AuditTrail(storage.audit, custody)
    backend = LocalBackend(storage, trail, "alice", custody_key=custody)
    await backend.set_status(mine, "triaged")
    await backend.set_priority(mine, "high")
    full = [r.seq for r in await backend.custody_records(mine)]
    async with storage.engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM audit_reports WHERE report_ref = :k AND seq = :s"),
            {"k": _key(mine), "s": full[-1]},
        )
    assert [r.seq for r in await backend.custody_records(mine)] == full[:-1]
    assert full[-1] not in [e.seq for e in await trail.entries_about(mine)]
    assert await trail.reindex() == 1
    assert [r.seq for r in await backend.custody_records(mine)] == full


def test_an_entry_nested_too_deeply_is_malformed_not_a_crash() -> None:
    """json's RecursionError on tampered bytes reads as a malformed entry everywhere."""
    with pytest.raises(ValueError, match="nested too deeply"):
        decode_entry(b"[" * 100_000 + b"]" * 100_000)
