"""The audit trail: chained, signed, and tamper-evident on real databases."""

from __future__ import annotations

import secrets

from sqlalchemy import update

from review.audit import AuditTrail
from storage import Storage
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
