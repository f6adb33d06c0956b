"""The audit trail: chained, signed, and tamper-evident on real databases."""

from __future__ import annotations

import secrets

from sqlalchemy import update

from crypto.custody import custody_public_key
from review.audit import AuditTrail, ChainCheck, VerifyResult
from storage import Storage
from storage.audit import AuditRecord
from storage.models import AuditRow


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
