"""The audit trail: chained, signed, and tamper-evident on real databases."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text, update

from cli.main import main
from crypto.custody import custody_public_key
from review.audit import STORED_AS_TEXT, AuditTrail, ChainCheck, VerifyResult
from storage import Storage
from storage.audit import AuditRecord
from storage.models import AuditRow
from storage.server_keys import load_or_create_server_keys


async def test_trail_verifies_and_names_the_tampered_entry(storage: Storage) -> None:
    """A real trail verifies; one changed byte makes verify name exactly that entry."""
    trail = AuditTrail(storage.audit, secrets.token_bytes(32))
    for number in range(5):
        await trail.record("alice", "report.status", f"{number:032x}", {"status": "closed"})
    result = await trail.verify()
    assert result.ok and result.entries == 5
    row = (await storage.audit.entries())[2]
    tampered = bytearray(row.entry)
    tampered[tampered.index(b"closed")] ^= 0x01
    async with storage.engine.begin() as connection:
        await connection.execute(
            update(AuditRow).where(AuditRow.seq == row.seq).values(entry=bytes(tampered))
        )
    result = await trail.verify()
    assert not result.ok and result.first_broken == 3


async def test_removed_entry_is_detected(storage: Storage) -> None:
    """Deleting an entry from the middle breaks the chain at the next one."""
    trail = AuditTrail(storage.audit, secrets.token_bytes(32))
    for _ in range(3):
        await trail.record("admin", "reviewer.add")
    async with storage.engine.begin() as connection:
        await connection.execute(AuditRow.__table__.delete().where(AuditRow.seq == 2))
    result = await trail.verify()
    assert not result.ok and result.first_broken == 3


async def test_other_key_cannot_forge(storage: Storage) -> None:
    """Entries signed with another key do not verify under the server's key."""
    await AuditTrail(storage.audit, secrets.token_bytes(32)).record("mallory", "report.delete")
    result = await AuditTrail(storage.audit, secrets.token_bytes(32)).verify()
    assert not result.ok and result.first_broken == 1 and "signature" in (result.problem or "")


async def test_verify_reads_the_trail_in_pages_and_still_names_the_broken_entry(
    storage: Storage,
) -> None:
    """With pages of 3, a trail of 8 is checked across page boundaries: a gap in the third
    page is named, with the trail's whole length, and an intact trail counts every entry."""
    trail = AuditTrail(storage.audit, secrets.token_bytes(32))
    for number in range(8):
        await trail.record("alice", "report.status", f"{number:032x}", {"status": "new"})
    assert await trail.verify(page=3) == VerifyResult(True, 8)
    assert [r.seq async for r in trail.records(page=3)] == list(range(1, 9))
    assert [r.seq async for r in trail.newest_records(3)] == [6, 7, 8]
    async with storage.engine.begin() as connection:
        await connection.execute(AuditRow.__table__.delete().where(AuditRow.seq == 7))
    result = await trail.verify(page=3)
    assert (result.ok, result.entries, result.first_broken) == (False, 7, 8)
    assert result.problem == "entry 7 is missing (found 8 in its place)"


def test_chain_check_stops_at_the_first_broken_record() -> None:
    """The pure check: a record out of order breaks it, and nothing after is accepted."""
    key = secrets.token_bytes(32)
    check = ChainCheck(custody_public_key(key))
    first = AuditRecord(2, b"{}", "0" * 64, b"\0" * 64)
    assert not check.add(first)
    assert not check.add(first)
    assert check.result() == VerifyResult(False, 1, 2, "entry 1 is missing (found 2 in its place)")


async def _retype_as_text(storage: Storage, table: str, where: str) -> None:
    """What a hand edit leaves: SQLite keeps a TEXT value in the binary column; on PostgreSQL
    the column itself was retyped (bytea admits no text)."""
    async with storage.engine.begin() as connection:
        if storage.engine.dialect.name == "sqlite":
            await connection.execute(
                text(f"UPDATE {table} SET entry = CAST(entry AS TEXT) WHERE {where}"))
        else:
            await connection.execute(text(
                f"ALTER TABLE {table} ALTER COLUMN entry TYPE text "
                "USING convert_from(entry, 'UTF8')"))
    await storage.engine.dispose()  # statements prepared for the old column type go with it


@pytest.mark.parametrize("table", ["audit_log", "custody_entries"])
async def test_an_entry_stored_as_text_is_one_line_naming_it_not_a_traceback(
    storage: Storage, database_url: str, tmp_path: Path, table: str
) -> None:
    """An entry read back as text (not the signed bytes) fails verification at that entry,
    with one line naming the fix; `intake audit verify` prints that line, no traceback."""
    data_dir = tmp_path / "data"
    trail = AuditTrail(storage.audit, load_or_create_server_keys(data_dir).custody_key)
    for number in range(3):
        await trail.record("alice", "report.status", f"{number:032x}", {"status": "new"})
    assert (await trail.verify()).ok
    await _retype_as_text(storage, table, "seq = 2" if table == "audit_log" else "n = 1")

    result = await trail.verify()
    assert not result.ok and result.first_broken is not None
    if table == "audit_log" and storage.engine.dialect.name == "sqlite":
        assert result.first_broken == 2  # only that entry was made text; on PostgreSQL all
    assert result.problem is not None and result.problem.endswith(STORED_AS_TEXT)
    env = {"INTAKE_DATA_DIR": str(data_dir), "INTAKE_DATABASE_URL": database_url}
    done = await asyncio.to_thread(CliRunner().invoke, main, ["audit", "verify"], env=env)
    assert done.exit_code == 1, done.exception
    [line] = done.output.splitlines()
    assert line.startswith(f"Error: audit trail broken at entry {result.first_broken} of 3: "), line
    assert "stored as text" in line and "restore the table from a backup" in line, line
