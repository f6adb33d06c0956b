"""Durable conversations on real SQLite files and a real PostgreSQL database: sealed chat
states, the sealed outbox and idempotency marks, each update written in one transaction."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import (
    UNCHANGED,
    AlreadyProcessed,
    DuplicateSubmission,
    ItemRole,
    NewItem,
    NewReport,
    Storage,
    default_sqlite_url,
)
from storage.conversations import expiry_hour

NOW = dt.datetime(2026, 11, 28, 16, 20, 7, tzinfo=dt.UTC)
TODAY = NOW.date()
LATER = NOW + dt.timedelta(hours=1)
CHAT = "c" * 64
OTHER = "d" * 64


def _report(submission: bytes) -> NewReport:
    return NewReport(
        report_id=secrets.token_hex(16),
        received_day=TODAY,
        receipt_hash=secrets.token_bytes(32),
        submission_key=submission,
        manifest=b'{"items":[]}',
        manifest_signature=b"\x01" * 64,
        items=(
            NewItem(
                item_id=secrets.token_hex(16),
                seq=0,
                role=ItemRole.ANSWERS,
                header=b"age-encryption.org/v1\n" + b"h" * 40,
                payload_size=100,
                payload_sha256="ab" * 32,
                recipient_key_ids=("0123456789abcdef",),
            ),
        ),
    )


async def _commit(
    storage: Storage,
    *,
    chat: str = CHAT,
    update: bytes | None = None,
    state: bytes | None = b"sealed-state",
    outbox: tuple[bytes, ...] = (),
    report: NewReport | None = None,
) -> list[bytes]:
    entries = await storage.conversations.commit_update(
        chat_key=chat,
        update_key=update,
        state=state,
        expires=LATER,
        outbox=outbox,
        report=report,
        today=TODAY,
    )
    return [e.sealed for e in entries]


async def test_state_round_trip_replace_and_delete(storage: Storage) -> None:
    """One sealed state per chat: written, replaced, read back, deleted with None."""
    conversations = storage.conversations
    assert await conversations.load(CHAT, now=NOW) is None
    await _commit(storage, state=b"first")
    await _commit(storage, chat=OTHER, state=b"other chat")
    assert await conversations.load(CHAT, now=NOW) == b"first"
    await _commit(storage, state=b"second")
    assert await conversations.load(CHAT, now=NOW) == b"second"
    assert await conversations.load(OTHER, now=NOW) == b"other chat"
    await _commit(storage, state=None)
    assert await conversations.load(CHAT, now=NOW) is None
    assert await conversations.load(OTHER, now=NOW) == b"other chat"


async def test_expired_state_is_not_loaded(storage: Storage) -> None:
    """Expiry is rounded up to the hour; from that hour on the state is gone."""
    await storage.conversations.commit_update(
        chat_key=CHAT, update_key=None, state=b"s", outbox=(),
        expires=dt.datetime(2026, 11, 28, 17, 5, tzinfo=dt.UTC),
    )
    load = storage.conversations.load
    assert await load(CHAT, now=dt.datetime(2026, 11, 28, 17, 59, 59, tzinfo=dt.UTC)) == b"s"
    assert await load(CHAT, now=dt.datetime(2026, 11, 28, 18, 0, tzinfo=dt.UTC)) is None


def test_expiry_is_rounded_up_to_the_hour() -> None:
    hour = expiry_hour(dt.datetime(2026, 11, 28, 17, 0, 1, tzinfo=dt.UTC))
    assert hour * 3600 == dt.datetime(2026, 11, 28, 18, tzinfo=dt.UTC).timestamp()
    exact = expiry_hour(dt.datetime(2026, 11, 28, 17, tzinfo=dt.UTC))
    assert exact * 3600 == dt.datetime(2026, 11, 28, 17, tzinfo=dt.UTC).timestamp()
    assert expiry_hour(dt.datetime(2026, 11, 28, 17, 0, 1)) == hour  # naive means UTC


async def test_outbox_appends_in_order_per_chat(storage: Storage) -> None:
    """Each update's messages go after the chat's pending ones; chats do not mix."""
    first = await storage.conversations.commit_update(
        chat_key=CHAT, update_key=None, state=b"s", expires=LATER, outbox=[b"m1", b"m2"]
    )
    assert [(e.seq, e.sealed, e.chat_key) for e in first] == [(0, b"m1", CHAT), (1, b"m2", CHAT)]
    assert len({e.entry_id for e in first}) == 2
    await _commit(storage, chat=OTHER, outbox=(b"o1",))
    await _commit(storage, outbox=(b"m3",))
    pending = await storage.conversations.pending(CHAT)
    assert [e.sealed for e in pending] == [b"m1", b"m2", b"m3"]
    assert [e.seq for e in pending] == [0, 1, 2]
    assert pending[0].entry_id == first[0].entry_id
    assert pending[0].day == dt.datetime.now(dt.UTC).date()  # no `today`: the UTC day
    assert pending[2].day == TODAY
    assert [e.sealed for e in await storage.conversations.pending(OTHER)] == [b"o1"]
    assert sorted(await storage.conversations.chats_with_pending()) == [CHAT, OTHER]
    assert await storage.conversations.chats_with_pending(limit=1) == [CHAT]
    assert await storage.conversations.chats_with_pending(limit=1, after=CHAT) == [OTHER]
    assert await storage.conversations.chats_with_pending(after=OTHER) == []
    # Delivering the first keeps the order of the rest, and later messages still go last.
    await storage.conversations.delivered(pending[0].entry_id, chat_key=CHAT)
    await _commit(storage, outbox=(b"m4",))
    assert [e.sealed for e in await storage.conversations.pending(CHAT)] == [
        b"m2", b"m3", b"m4"
    ]


async def test_snapshot_and_head_read_what_an_update_and_the_relay_need(
    storage: Storage,
) -> None:
    """`snapshot`: which marks exist and the live state, in one read; `head`: the oldest
    waiting message and the stored state; a first `seq` of 0 says nothing was waiting."""
    conversations = storage.conversations
    done, fresh = secrets.token_bytes(32), secrets.token_bytes(32)
    assert await conversations.snapshot(CHAT, [done, fresh], now=NOW) == (set(), None)
    assert await conversations.head(CHAT) == (None, None)
    assert not await conversations.has_pending(CHAT)
    (first,) = await conversations.commit_update(
        chat_key=CHAT, update_key=done, state=b"s1", expires=LATER, outbox=[b"m1"], today=TODAY
    )
    assert first.seq == 0
    assert await conversations.snapshot(CHAT, [done, fresh], now=NOW) == ({done}, b"s1")
    assert await conversations.snapshot(CHAT, [], now=NOW) == (set(), b"s1")
    # An expired state is no state to an update, but `head` shows the bytes as stored.
    late = NOW + dt.timedelta(hours=3)
    assert await conversations.snapshot(CHAT, [fresh], now=late) == (set(), None)
    assert await conversations.head(CHAT) == (first.entry_id, b"s1")
    assert await conversations.has_pending(CHAT)
    (second,) = await conversations.commit_update(
        chat_key=CHAT, update_key=None, state=b"s2", expires=LATER, outbox=[b"m2"]
    )
    assert second.seq != 0  # m1 still waits
    assert await conversations.head(CHAT) == (first.entry_id, b"s2")
    await conversations.delivered(first.entry_id, chat_key=CHAT, state=None)
    assert await conversations.head(CHAT) == (second.entry_id, None)
    await conversations.delivered(second.entry_id, chat_key=CHAT)
    (third,) = await conversations.commit_update(
        chat_key=CHAT, update_key=None, state=None, expires=LATER, outbox=[b"m3"]
    )
    assert third.seq == 0
    assert not await conversations.has_pending(OTHER)


async def test_update_mark_makes_a_redelivery_write_nothing(storage: Storage) -> None:
    """A second commit of the same update raises AlreadyProcessed and changes nothing."""
    mark = secrets.token_bytes(32)
    assert not await storage.conversations.is_processed(mark)
    await _commit(storage, update=mark, state=b"after first", outbox=(b"reply",))
    assert await storage.conversations.is_processed(mark)
    with pytest.raises(AlreadyProcessed):
        await _commit(storage, update=mark, state=b"after second", outbox=(b"again",))
    assert await storage.conversations.load(CHAT, now=NOW) == b"after first"
    assert [e.sealed for e in await storage.conversations.pending(CHAT)] == [b"reply"]
    assert not await storage.conversations.is_processed(secrets.token_bytes(32))


async def test_report_is_committed_with_the_update(storage: Storage) -> None:
    """Send: the report, the receipt in the outbox, the mark and the cleared draft, together."""
    report = _report(b"s" * 32)
    mark = secrets.token_bytes(32)
    await _commit(storage, update=mark, state=None, outbox=(b"receipt",), report=report)
    assert await storage.reports.find_by_submission_key(b"s" * 32) == report.report_id
    stored = await storage.reports.get(report.report_id)
    assert stored is not None and stored.items[0].header == report.items[0].header
    assert await storage.conversations.is_processed(mark)
    assert [e.sealed for e in await storage.conversations.pending(CHAT)] == [b"receipt"]


async def test_duplicate_submission_writes_nothing(storage: Storage) -> None:
    """A submission key already stored: DuplicateSubmission, and no state, outbox or mark."""
    first = _report(b"k" * 32)
    await storage.reports.add(first)
    await _commit(storage, state=b"before")
    mark = secrets.token_bytes(32)
    with pytest.raises(DuplicateSubmission) as caught:
        await _commit(storage, update=mark, state=None, outbox=(b"receipt",),
                      report=_report(b"k" * 32))
    assert caught.value.report_id == first.report_id
    assert await storage.reports.count() == 1
    assert await storage.conversations.load(CHAT, now=NOW) == b"before"
    assert await storage.conversations.pending(CHAT) == []
    assert not await storage.conversations.is_processed(mark)


async def test_a_failing_report_rolls_back_the_whole_update(storage: Storage) -> None:
    """If the report cannot be inserted, neither can the state, the outbox or the mark."""
    report = _report(b"x" * 32)
    clash = NewReport(**{**report.__dict__, "items": (report.items[0], report.items[0])})
    await _commit(storage, state=b"before")
    mark = secrets.token_bytes(32)
    with pytest.raises(Exception):  # noqa: B017 - the integrity error itself; what matters is below
        await _commit(storage, update=mark, state=b"after", outbox=(b"receipt",), report=clash)
    assert await storage.reports.count() == 0
    assert await storage.conversations.load(CHAT, now=NOW) == b"before"
    assert await storage.conversations.pending(CHAT) == []
    assert not await storage.conversations.is_processed(mark)


async def test_racing_commits_of_one_update_store_it_once(
    database_url: str, tmp_path: Path
) -> None:
    """Two workers (two Storage objects) commit the same update at once: one wins, the other
    is told AlreadyProcessed; one report, one receipt."""
    stores = [await Storage.open(database_url, tmp_path / "blobs") for _ in range(2)]
    try:
        for round_ in range(1, 7):
            mark = secrets.token_bytes(32)
            report = _report(secrets.token_bytes(32))
            results = await asyncio.gather(
                *(
                    _commit(store, update=mark, state=None, outbox=(b"receipt",), report=report)
                    for store in stores
                ),
                return_exceptions=True,
            )
            assert sorted(type(r).__name__ for r in results) == ["AlreadyProcessed", "list"]
            assert await stores[0].reports.count() == round_
            pending = await stores[1].conversations.pending(CHAT)
            assert [e.sealed for e in pending] == [b"receipt"] * round_
    finally:
        for store in stores:
            await store.close()


async def test_delivered_deletes_the_row_and_optionally_sets_the_state(storage: Storage) -> None:
    conversations = storage.conversations
    await _commit(storage, state=b"draft", outbox=(b"a", b"b", b"c"))
    a, b, c = await conversations.pending(CHAT)
    await conversations.delivered(a.entry_id, chat_key=CHAT)
    assert await conversations.load(CHAT, now=NOW) == b"draft"
    await conversations.delivered(b.entry_id, chat_key=CHAT, state=b"with trail", expires=LATER)
    assert await conversations.load(CHAT, now=NOW) == b"with trail"
    # The wrong chat deletes nothing.
    await conversations.delivered(c.entry_id, chat_key=OTHER, state=UNCHANGED)
    assert [e.entry_id for e in await conversations.pending(CHAT)] == [c.entry_id]
    await conversations.delivered(c.entry_id, chat_key=CHAT, state=None)
    assert await conversations.load(CHAT, now=NOW) is None
    assert await conversations.pending(CHAT) == []
    assert await conversations.chats_with_pending() == []
    # Delivering again (a redelivered confirmation) is harmless.
    await conversations.delivered(c.entry_id, chat_key=CHAT)
    with pytest.raises(ValueError, match="expiry"):
        await conversations.delivered(c.entry_id, chat_key=CHAT, state=b"x")


async def test_sweep_deletes_what_expired_and_counts_it(storage: Storage) -> None:
    conversations = storage.conversations
    old_day = TODAY - dt.timedelta(days=3)
    await conversations.commit_update(
        chat_key=CHAT, update_key=b"o" * 32, state=b"old", outbox=[b"stale"],
        expires=NOW - dt.timedelta(hours=2), today=old_day,
    )
    await conversations.commit_update(
        chat_key=OTHER, update_key=b"n" * 32, state=b"live", outbox=[b"fresh"],
        expires=LATER, today=TODAY,
    )
    counts = await conversations.sweep(
        now=NOW, marks_before=TODAY - dt.timedelta(days=1), outbox_before=TODAY
    )
    assert (counts.states, counts.marks, counts.outbox) == (1, 1, 1)
    assert not await conversations.is_processed(b"o" * 32)
    assert await conversations.is_processed(b"n" * 32)
    assert await conversations.load(OTHER, now=NOW) == b"live"
    assert await conversations.pending(CHAT) == []
    assert [e.sealed for e in await conversations.pending(OTHER)] == [b"fresh"]
    again = await conversations.sweep(
        now=NOW, marks_before=TODAY - dt.timedelta(days=1), outbox_before=TODAY
    )
    assert (again.states, again.marks, again.outbox) == (0, 0, 0)


async def test_rows_hold_no_exact_time(storage: Storage) -> None:
    """What is stored: pseudonyms, sealed bytes, an hour number and dates, nothing finer."""
    await _commit(storage, update=b"u" * 32, state=b"s", outbox=(b"m",))
    async with storage.engine.connect() as connection:
        (expires,) = (await connection.execute(text("SELECT expires_hour FROM chat_states"))).one()
        outbox = (await connection.execute(text("SELECT id, chat_key, seq, day FROM outbox"))).one()
        (mark_day,) = (await connection.execute(text("SELECT day FROM processed_updates"))).one()
    assert expires * 3600 == dt.datetime(2026, 11, 28, 18, tzinfo=dt.UTC).timestamp()
    assert len(outbox[0]) == 32 and outbox[1] == CHAT and outbox[2] == 0
    for day in (outbox[3], mark_day):
        assert str(day) == TODAY.isoformat()


async def test_sqlite_tables_keep_no_arrival_order(tmp_path: Path) -> None:
    """On SQLite the three tables are WITHOUT ROWID: stored in key order, not arrival order."""
    store = await Storage.open(default_sqlite_url(tmp_path), tmp_path / "blobs")
    try:
        async with store.engine.connect() as connection:
            rows = (await connection.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN "
                "('chat_states', 'outbox', 'processed_updates')"
            ))).all()
    finally:
        await store.close()
    assert len(rows) == 3
    for name, sql in rows:
        assert sql.rstrip().upper().endswith("WITHOUT ROWID"), name


async def test_deleted_rows_leave_no_bytes_in_the_sqlite_files(tmp_path: Path) -> None:
    """secure_delete zeroes deleted states, outbox rows and marks in the database file, and
    release_freed_space empties the write-ahead log that still held them."""
    data = tmp_path / "data"
    store = await Storage.open(default_sqlite_url(data), data / "blobs")
    state, message, mark = (secrets.token_bytes(16) * 64 for _ in range(3))
    try:
        conversations = store.conversations
        await _commit(store, update=mark[:32], state=state, outbox=(message,))
        await _commit(store, chat=OTHER, state=b"unrelated" * 100)
        (entry,) = await conversations.pending(CHAT)
        await conversations.delivered(entry.entry_id, chat_key=CHAT, state=None)
        await conversations.sweep(now=NOW, marks_before=TODAY + dt.timedelta(days=1),
                                  outbox_before=TODAY)
        assert not await conversations.is_processed(mark[:32])
        await conversations.release_freed_space()
        files = [p for p in data.iterdir() if p.is_file()]
        assert any(p.name == "intake.db" for p in files)
        everything = b"".join(p.read_bytes() for p in files)
        assert b"unrelated" * 100 in everything  # the search does see live rows
        for secret in (state, message, mark[:32]):
            assert secret[:16] not in everything
    finally:
        await store.close()


async def test_release_freed_space_runs_on_both_databases(storage: Storage) -> None:
    await _commit(storage, state=b"x")
    await _commit(storage, state=None)
    await storage.conversations.release_freed_space()
    assert await storage.conversations.load(CHAT, now=NOW) is None
