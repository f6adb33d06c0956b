"""Notes and messages for the witness follow key changes (issue 10, item 6).

Every "who can open it" check runs the stock `age` CLI on the stored record, the way a removed
reviewer holding a copy of the database would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import update

import crypto
from crypto.receipts import receipt_keys
from review.audit import AuditTrail
from review.recipients import add_recovery, add_reviewer, remove_reviewer
from review.sealed_records import reencrypt_records, rewrap_records
from storage import Storage
from storage.models import ReportRow
from storage.server_keys import load_or_create_server_keys
from tests.review.test_keys import Key, Office, age_open, intake_key, keygen_key, submit
from tests.review.test_keys_cli import intake

DAY = dt.date(2026, 6, 1)


@dataclass
class Desk(Office):
    """An Office (tests/review/test_keys.py) kept in a data directory the CLI can open."""

    data_dir: Path

    async def records(self) -> dict[str, bytes]:
        """Every stored note and message for the witness, by "kind:id"."""
        found: dict[str, bytes] = {}
        for report_id in self.report_ids:
            for note in await self.storage.triage.notes(report_id):
                found[f"note:{note.note_id}"] = note.sealed
            for message in await self.storage.triage.witness_messages(report_id):
                found[f"message:{message.message_id}"] = message.sealed
        return found

    async def opened(self, key: Key) -> dict[str, bytes | None]:
        """What the stock age CLI opens of every note and message with `key`."""
        return {
            name: age_open(key, sealed, b"", self.scratch)
            for name, sealed in (await self.records()).items()
        }


def seal(text: str, recipients: list[str]) -> bytes:
    header, payload = crypto.seal_bytes(
        text.encode(), [crypto.parse_recipient(r) for r in recipients]
    )
    return header + payload


async def add_note(desk: Desk, report_id: str, text: str) -> None:
    """A note as `review.tools.seal_note` writes it: sealed to every active recipient."""
    active = [r.recipient for r in await desk.storage.recipients.active()]
    await desk.storage.triage.add_note(
        report_id, secrets.token_hex(16), "alice", DAY, seal(text, active)
    )


@pytest.fixture
async def desk(storage: Storage, tmp_path: Path) -> Desk:
    data_dir = tmp_path / "data"
    keys = load_or_create_server_keys(data_dir)
    audit = AuditTrail(storage.audit, keys.custody_key)
    alice = keygen_key(tmp_path, "alice")
    bob = intake_key(tmp_path, "bob")
    recovery = keygen_key(tmp_path, "recovery")
    await add_reviewer(storage, "alice", alice.public, audit=audit, actor="admin")
    await add_reviewer(storage, "bob", bob.public, audit=audit, actor="admin")
    await add_recovery(storage, recovery.public, audit=audit, actor="admin")
    report_ids = [await submit(storage, keys, f"report {n}", [b"a file"]) for n in range(3)]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return Desk(storage, keys, audit, alice, bob, recovery, report_ids, scratch, data_dir)


async def leave_records(desk: Desk) -> dict[str, str]:
    """Two notes and one question on each report, sealed as the review tools seal them; the
    witness's own key for each report (a fresh receipt code, so the test holds it)."""
    storage = desk.storage
    active = [r.recipient for r in await storage.recipients.active()]
    witness_keys: dict[str, str] = {}
    for report_id in desk.report_ids:
        for n in range(2):
            await add_note(desk, report_id, f"note {n} on {report_id}")
        derived = receipt_keys(secrets.token_hex(8), desk.keys.hash_key)
        witness_keys[report_id] = str(derived.witness)
        await _set_witness(storage, report_id, str(derived.witness.recipient))
        await storage.triage.add_witness_message(
            report_id, secrets.token_hex(16), DAY,
            seal(f"question on {report_id}", [str(derived.witness.recipient), *active]),
        )
    return witness_keys


async def _set_witness(storage: Storage, report_id: str, recipient: str) -> None:
    async with storage.engine.begin() as connection:
        await connection.execute(
            update(ReportRow).where(ReportRow.id == report_id).values(witness_recipient=recipient)
        )


def _witness_key(scratch: Path, identity: str) -> Key:
    path = scratch / f"witness-{secrets.token_hex(4)}.txt"
    path.write_text(identity + "\n")
    (parsed,) = crypto.parse_identities(identity)
    assert isinstance(parsed, crypto.X25519Identity)
    return Key(path, parsed, str(parsed.recipient))


async def test_rewrap_after_removal_locks_the_removed_reviewer_out_must_show(
    desk: Desk, database_url: str
) -> None:
    """After B is removed and `intake keys rewrap` runs, the stock age CLI with B's key opens
    no note and no message of any report; A, the recovery key and each witness still do."""
    witness_keys = await leave_records(desk)
    before = await desk.opened(desk.alice)
    assert len(before) == 9 and all(v is not None for v in before.values())
    assert all(v is not None for v in (await desk.opened(desk.bob)).values())

    env = {"INTAKE_DATA_DIR": str(desk.data_dir), "INTAKE_DATABASE_URL": database_url}

    async def run(*args: str) -> Result:
        return await asyncio.to_thread(intake, list(args), env)

    assert (await run("reviewer", "remove", "bob")).exit_code == 0
    result = await run("keys", "rewrap", "-i", str(desk.alice.path), "--actor", "alice")
    assert result.exit_code == 0, result.output
    assert "re-wrapped 6 note(s) and 3 message(s) for the witness" in result.output

    assert set((await desk.opened(desk.bob)).values()) == {None}
    assert await desk.opened(desk.alice) == before
    assert await desk.opened(desk.recovery) == before
    for report_id, identity in witness_keys.items():
        witness = _witness_key(desk.scratch, identity)
        (message,) = await desk.storage.triage.witness_messages(report_id)
        assert age_open(witness, message.sealed, b"", desk.scratch) == (
            f"question on {report_id}".encode()
        )
    # The reviewer's own command says the same as the stock CLI.
    notes = await run("review", "notes", report_id, "-i", str(desk.bob.path))
    assert "note 0 on" not in notes.output

    # Done is done: a second run finds nothing left, and the trail is intact.
    again = await rewrap_records(desk.storage, [desk.alice.identity], audit=desk.audit,
                                 actor="alice")
    assert (again.pending, again.done) == (0, {"note": 0, "witness_message": 0})
    assert (await desk.audit.verify()).ok
    actions = [e.action for e in await desk.audit.entries()]
    assert actions[-4:] == [
        "keys.rewrap_records.start", "keys.rewrap_records",
        "keys.rewrap_records.start", "keys.rewrap_records",
    ]


async def test_interrupted_rewrap_of_records_loses_nothing(desk: Desk) -> None:
    """Stopped part-way, every record still opens for A; a second run does only the rest."""
    await leave_records(desk)
    before = await desk.opened(desk.alice)
    await remove_reviewer(desk.storage, "bob", audit=desk.audit, actor="admin")

    class Stop(Exception):
        pass

    class StopAfter:
        def start(self, total: int) -> None:
            self.done = 0

        def advance(self, count: int) -> None:
            self.done += count
            if self.done >= 4:
                raise Stop()

    with pytest.raises(Stop):
        await rewrap_records(desk.storage, [desk.alice.identity], audit=desk.audit,
                             actor="alice", progress=StopAfter(), batch_size=2)
    assert await desk.opened(desk.alice) == before
    assert sum(v is not None for v in (await desk.opened(desk.bob)).values()) == 5
    result = await rewrap_records(desk.storage, [desk.alice.identity], audit=desk.audit,
                                  actor="alice")
    assert result.pending == 5 and result.complete
    assert set((await desk.opened(desk.bob)).values()) == {None}
    assert await desk.opened(desk.alice) == before


async def test_records_the_identity_cannot_open_are_left_alone(desk: Desk) -> None:
    """A stranger's key opens nothing, so nothing changes and the run is incomplete; a message
    sealed to the witness alone (the old form) is not counted as a failure."""
    await leave_records(desk)
    old_form = seal("asked long ago", [str(crypto.generate_identity().recipient)])
    await desk.storage.triage.add_witness_message(
        desk.report_ids[0], secrets.token_hex(16), DAY, old_form
    )
    before = await desk.records()
    result = await rewrap_records(
        desk.storage, [crypto.generate_identity()], audit=desk.audit, actor="mallory"
    )
    assert (result.unopenable, result.witness_only, result.complete) == (9, 1, False)
    assert await desk.records() == before
    result = await rewrap_records(desk.storage, [desk.alice.identity], audit=desk.audit,
                                  actor="alice")
    assert (result.unopenable, result.witness_only, result.complete) == (0, 1, True)


async def test_reencrypt_gives_records_fresh_keys_only_current_recipients_open(
    desk: Desk, database_url: str
) -> None:
    """`intake keys reencrypt --key-id B` seals every note and message again: new ciphertext
    (a fresh file key, so an old copy's key no longer helps), which A and the witness open and
    B does not, each recorded in the audit trail with the old and new hashes."""
    witness_keys = await leave_records(desk)
    before = await desk.opened(desk.alice)
    old = await desk.records()
    env = {"INTAKE_DATA_DIR": str(desk.data_dir), "INTAKE_DATABASE_URL": database_url}
    assert (await asyncio.to_thread(intake, ["reviewer", "remove", "bob"], env)).exit_code == 0
    result = await asyncio.to_thread(intake, [
        "keys", "reencrypt", "-i", str(desk.recovery.path), "--key-id", desk.bob.key_id,
        "--plan", str(desk.scratch / "plan.json"),
    ], env)
    assert result.exit_code == 0, result.output
    assert "re-encrypted 6 note(s) and 3 message(s)" in result.output
    new = await desk.records()
    assert new.keys() == old.keys()
    for name in new:
        _old_header, old_at = crypto.split_header(old[name])
        _new_header, new_at = crypto.split_header(new[name])
        assert old[name][old_at:] != new[name][new_at:]  # a new payload, not a new header only
    assert await desk.opened(desk.alice) == before
    assert set((await desk.opened(desk.bob)).values()) == {None}
    for report_id, identity in witness_keys.items():
        (message,) = await desk.storage.triage.witness_messages(report_id)
        witness = _witness_key(desk.scratch, identity)
        assert age_open(witness, message.sealed, b"", desk.scratch) is not None
    wanted = {"note.reencrypt", "witness_message.reencrypt"}
    entries = [e for e in await desk.audit.entries() if e.action in wanted]
    assert sorted(e.action for e in entries) == ["note.reencrypt"] * 6 + [
        "witness_message.reencrypt"
    ] * 3
    assert all(e.details["new_sha256"] != e.details["old_sha256"] for e in entries)
    assert (await desk.audit.verify()).ok

    # A key still active is refused before anything changes.
    with pytest.raises(Exception, match="still an active recipient"):
        await reencrypt_records(desk.storage, [desk.alice.identity], audit=desk.audit,
                                actor="alice", key_id=desk.alice.key_id)
