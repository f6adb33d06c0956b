"""The evidence tables on SQLite and PostgreSQL: one tree per day, one lease per attempt."""

from __future__ import annotations

import asyncio
import datetime as dt

from storage import Storage
from storage.evidence import LeafRecord, TokenRecord

DAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 21, 2, tzinfo=dt.UTC)


def _leaves(*hashes: str) -> list[LeafRecord]:
    return [LeafRecord(h * 64, "audit", audit_seq=i) for i, h in enumerate(hashes, start=1)]


async def test_a_day_is_built_once_even_by_workers_racing(storage: Storage) -> None:
    results = await asyncio.gather(*(
        storage.evidence.create_day(DAY, "ab" * 32, _leaves("a", "b"), NOW) for _ in range(4)
    ))
    assert sorted(results) == [False, False, False, True]
    assert await storage.evidence.leaf_hashes(DAY) == ["a" * 64, "b" * 64]
    assert await storage.evidence.known(["a" * 64, "c" * 64]) == {"a" * 64}
    assert await storage.evidence.last_audit_seq() == 2


async def test_a_leaf_is_in_one_tree_only(storage: Storage) -> None:
    assert await storage.evidence.create_day(DAY, "00" * 32, _leaves("a"), NOW)
    # A second day holding the same leaf is refused whole: no day row without its leaves.
    assert not await storage.evidence.create_day(
        DAY + dt.timedelta(days=1), "11" * 32, _leaves("b", "a"), NOW)
    assert [d.day for d in await storage.evidence.days()] == [DAY]


async def test_one_worker_holds_a_queued_day_until_its_lease_ends(storage: Storage) -> None:
    await storage.evidence.create_day(DAY, "00" * 32, _leaves("a"), NOW)
    lease = NOW + dt.timedelta(minutes=5)
    claims = await asyncio.gather(*(storage.evidence.claim(DAY, NOW, lease) for _ in range(3)))
    assert sorted(claims) == [False, False, True]
    await storage.evidence.record_failure(DAY, "unreachable", NOW + dt.timedelta(minutes=10))
    (day,) = await storage.evidence.days(unanchored_only=True)
    assert (day.attempts, day.last_failure) == (1, "unreachable")
    assert await storage.evidence.queued_days() == [day]
    assert day.next_attempt == NOW + dt.timedelta(minutes=10)
    assert not await storage.evidence.claim(DAY, NOW + dt.timedelta(minutes=9), lease)


async def test_tokens_are_kept_once_per_authority(storage: Storage) -> None:
    await storage.evidence.create_day(DAY, "00" * 32, _leaves("a"), NOW)
    token = TokenRecord("https://tsa.example/", b"\x30\x03", b"PEM", NOW)
    await storage.evidence.add_token(DAY, token)
    await storage.evidence.add_token(DAY, token)
    day = await storage.evidence.day(DAY)
    assert day is not None and day.anchored and day.tokens == (token,)
    assert await storage.evidence.days(unanchored_only=True) == []
    assert await storage.evidence.queued_days() == []
    assert await storage.evidence.built_days() == {DAY}
