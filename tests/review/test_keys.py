"""Key rotation on real stores: re-wrapping and re-encrypting real reports, checked with `age`.

Reports are sealed by the bot's own ReportSubmitter, so the recipient set they get is exactly
what the bot would use; every "who can open it" check runs the stock `age` CLI on header +
payload, the way a reviewer without our software would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, Conversation, Draft, MediaRef, load_questionnaire
from bot.core.draft import ChoiceAnswer, DateAnswer, MediaAnswer, PlaceAnswer, TextAnswer
from bot.i18n import translations
from bot.submission import ReportSubmitter, fetch_from_memory
from crypto.custody import custody_public_key
from review.audit import AuditTrail
from review.keys import (
    KeyRotationError,
    TargetSet,
    new_identity_file,
    rewrap_header,
    rewrap_item,
    rewrap_store,
)
from review.queue import open_report
from review.recipients import RecipientError, add_recovery, add_reviewer, remove_reviewer
from review.reencrypt import ReencryptResult, reencrypt_store
from storage import RecipientKind, Storage
from storage.header_swaps import HeaderConflictError, HeaderReplacement, ItemNotFoundError
from storage.payload_swaps import PayloadReplacement
from storage.server_keys import ServerKeys, load_or_create_server_keys
from tests.support import skip_or_fail

AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")


@dataclass
class Key:
    """A reviewer's identity file on disk, its parsed identity and its public recipient."""

    path: Path
    identity: crypto.Identity
    public: str

    @property
    def key_id(self) -> str:
        return crypto.key_id(self.public)


def keygen_key(directory: Path, name: str) -> Key:
    """A key made by the stock age-keygen."""
    if AGE_KEYGEN is None:
        skip_or_fail("Debian's age-keygen is not installed (apt-get install age)")
        raise AssertionError("unreachable")
    path = directory / f"{name}.txt"
    subprocess.run([AGE_KEYGEN, "-o", str(path)], check=True, capture_output=True)
    (identity,) = crypto.parse_identities(path.read_text())
    public = subprocess.run(
        [AGE_KEYGEN, "-y", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return Key(path, identity, public)


def intake_key(directory: Path, name: str) -> Key:
    """A key made by `intake keys new --no-passphrase` (the same code path)."""
    key = new_identity_file(None)
    path = directory / f"{name}.txt"
    path.write_bytes(key.file_bytes)
    (identity,) = crypto.parse_identities(path.read_text())
    return Key(path, identity, key.recipient)


def age_open(key: Key, header: bytes, payload: bytes, scratch: Path) -> bytes | None:
    """What the stock `age -d -i KEY` prints for header + payload, or None if it refuses."""
    if AGE is None:
        skip_or_fail("Debian's age CLI is not installed (apt-get install age)")
        raise AssertionError("unreachable")
    sealed = scratch / f"{secrets.token_hex(6)}.age"
    sealed.write_bytes(header + payload)
    run = subprocess.run(
        [AGE, "-d", "-i", str(key.path), str(sealed)], capture_output=True, timeout=60
    )
    sealed.unlink()
    return run.stdout if run.returncode == 0 else None


async def submit(storage: Storage, keys: ServerKeys, what: str, files: list[bytes]) -> str:
    """One report through the bot's own submitter, as a finished conversation would send it."""
    conversation = Conversation(load_questionnaire(DEFAULT_QUESTIONNAIRE), translations)
    refs = [
        MediaRef("document", f"h{n}", len(data), f"file{n}.bin", "application/octet-stream")
        for n, data in enumerate(files)
    ]
    draft = Draft(draft_id=secrets.token_hex(8), language="en", answers={
        "category": ChoiceAnswer("violence"),
        "what": TextAnswer(what),
        "when": DateAnswer(dt.date(2026, 5, 31)),
        "where": PlaceAnswer("Near the market"),
        "evidence": MediaAnswer(tuple(refs)),
    })
    bodies = {ref.handle: data for ref, data in zip(refs, files, strict=True)}

    fetch = fetch_from_memory(bodies)

    receipt = await ReportSubmitter(storage, keys, conversation).submit(
        draft, submission_id=secrets.token_hex(8), fetch=fetch
    )
    return receipt.report_id


@dataclass
class Office:
    """A store with reviewers alice and bob, the recovery key, and three submitted reports."""

    storage: Storage
    keys: ServerKeys
    audit: AuditTrail
    alice: Key
    bob: Key
    recovery: Key
    report_ids: list[str]
    scratch: Path

    async def items(self) -> list[tuple[str, int, str, bytes, bytes]]:
        """(report id, seq, item id, header, payload) for every stored item."""
        found = []
        for report_id in self.report_ids:
            report = await self.storage.reports.get(report_id)
            assert report is not None
            for item in report.items:
                with self.storage.blobs.open(item.item_id) as blob:
                    found.append((report_id, item.seq, item.item_id, item.header, blob.read()))
        return found

    async def plaintexts(self, key: Key) -> dict[tuple[str, int], bytes | None]:
        """What the stock age CLI opens of every item with `key`."""
        return {
            (report_id, seq): age_open(key, header, payload, self.scratch)
            for report_id, seq, _id, header, payload in await self.items()
        }


@pytest.fixture
async def office(storage: Storage, tmp_path: Path) -> Office:
    keys = load_or_create_server_keys(tmp_path / "server")
    audit = AuditTrail(storage.audit, keys.custody_key)
    alice = keygen_key(tmp_path, "alice")
    bob = intake_key(tmp_path, "bob")
    recovery = keygen_key(tmp_path, "recovery")
    await add_reviewer(storage, "alice", alice.public, audit=audit, actor="admin")
    await add_reviewer(storage, "bob", bob.public, audit=audit, actor="admin")
    await add_recovery(storage, recovery.public, audit=audit, actor="admin")
    big = os.urandom(150_000)  # three STREAM chunks: re-wrapping must not care
    report_ids = [
        await submit(storage, keys, "first report", [b"small file", big]),
        await submit(storage, keys, "second report", []),
        await submit(storage, keys, "third report", [os.urandom(1000)]),
    ]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return Office(storage, keys, audit, alice, bob, recovery, report_ids, scratch)


async def test_new_reports_are_sealed_to_the_recovery_key_too(office: Office) -> None:
    """The bot seals every report to all active reviewers and the recovery recipient."""
    kinds = {r.name: r.kind for r in await office.storage.recipients.active()}
    assert sorted(kinds.values()) == [
        RecipientKind.RECOVERY, RecipientKind.REVIEWER, RecipientKind.REVIEWER
    ]
    expected = tuple(sorted([office.alice.key_id, office.bob.key_id, office.recovery.key_id]))
    for report_id in office.report_ids:
        report = await office.storage.reports.get(report_id)
        assert report is not None
        assert all(item.recipient_key_ids == expected for item in report.items)
    for key in (office.alice, office.bob, office.recovery):
        assert all(p is not None for p in (await office.plaintexts(key)).values())


async def test_remove_rewrap_add_rewrap_must_show(office: Office) -> None:
    """Removing B then re-wrapping: A and recovery open everything with `age`, B nothing; adding
    C then re-wrapping: C opens every old report; payload bytes never change."""
    storage, audit = office.storage, office.audit
    original = await office.plaintexts(office.alice)
    payloads = {(r, s): (i, p) for r, s, i, _h, p in await office.items()}
    assert all(v is not None for v in original.values()) and len(original) == 6

    await remove_reviewer(storage, "bob", audit=audit, actor="admin")
    result = await rewrap_store(storage, [office.alice.identity], audit=audit, actor="alice")
    assert (result.rewrapped, result.unopenable, result.conflicts) == (6, 0, 0)
    assert await office.plaintexts(office.alice) == original
    assert await office.plaintexts(office.recovery) == original
    assert set((await office.plaintexts(office.bob)).values()) == {None}
    assert {(r, s): (i, p) for r, s, i, _h, p in await office.items()} == payloads

    carol = intake_key(office.scratch.parent, "carol")
    await add_reviewer(storage, "carol", carol.public, audit=audit, actor="admin")
    # Run by whoever holds the recovery key this time: it need not be a reviewer.
    result = await rewrap_store(storage, [office.recovery.identity], audit=audit, actor="keeper")
    assert (result.rewrapped, result.unopenable) == (6, 0)
    assert await office.plaintexts(carol) == original
    assert await office.plaintexts(office.alice) == original
    assert await office.plaintexts(office.recovery) == original
    assert set((await office.plaintexts(office.bob)).values()) == {None}
    assert {(r, s): (i, p) for r, s, i, _h, p in await office.items()} == payloads

    # Nothing left to do; custody still holds because payloads and manifests are untouched.
    again = await rewrap_store(storage, [office.alice.identity], audit=audit, actor="alice")
    assert (again.pending, again.rewrapped) == (0, 0)
    public = custody_public_key(office.keys.custody_key)
    for report_id in office.report_ids:
        opened = await open_report(storage, report_id, [carol.identity], public)
        assert opened.custody_valid and all(a.intact for a in opened.attachments)
    assert (await audit.verify()).ok
    actions = [e.action for e in await audit.entries()]
    assert actions.count("keys.rewrap.start") == 3 and actions.count("keys.rewrap") == 3
    assert actions.count("recipient.add") == 4 and actions.count("recipient.remove") == 1


class Interrupt(Exception):
    """Stands in for Ctrl-C, a crash or a lost connection in the middle of a run."""


class StopAfter:
    """A progress sink that interrupts the run once `limit` items are reported done."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.done = 0

    def start(self, total: int) -> None:
        self.total = total

    def advance(self, count: int) -> None:
        self.done += count
        if self.done >= self.limit:
            raise Interrupt()


async def test_interrupted_rewrap_loses_nothing_and_a_second_run_completes(
    office: Office,
) -> None:
    """Stopped half-way, every report stays readable; running again finishes the job."""
    storage, audit = office.storage, office.audit
    original = await office.plaintexts(office.alice)
    await remove_reviewer(storage, "bob", audit=audit, actor="admin")
    target = TargetSet.of(await storage.recipients.active())
    with pytest.raises(Interrupt):
        await rewrap_store(
            storage, [office.alice.identity], audit=audit, actor="alice",
            progress=StopAfter(4), batch_size=2,
        )
    assert await storage.reports.count_items_for_rewrap(target.key_ids) == 2
    assert await office.plaintexts(office.alice) == original
    assert await office.plaintexts(office.recovery) == original
    # The two items not re-wrapped yet still have their old header: bob, too, reads them.
    assert sum(p is not None for p in (await office.plaintexts(office.bob)).values()) == 2
    stopped = (await audit.entries())[-1]
    assert stopped.action == "keys.rewrap" and stopped.details["finished"] is False

    result = await rewrap_store(storage, [office.alice.identity], audit=audit, actor="alice")
    assert (result.pending, result.rewrapped) == (2, 2) and result.complete
    assert await storage.reports.count_items_for_rewrap(target.key_ids) == 0
    assert set((await office.plaintexts(office.bob)).values()) == {None}
    assert await office.plaintexts(office.alice) == original
    assert (await audit.verify()).ok


async def test_items_the_identity_cannot_open_are_left_for_another_key(office: Office) -> None:
    """A header not wrapped to the caller is counted and left intact, not damaged."""
    storage, audit = office.storage, office.audit
    stranger = crypto.generate_identity()
    await remove_reviewer(storage, "bob", audit=audit, actor="admin")
    before = await office.items()
    result = await rewrap_store(storage, [stranger], audit=audit, actor="mallory")
    assert (result.rewrapped, result.unopenable, result.complete) == (0, 6, False)
    assert await office.items() == before


async def test_header_swap_is_compare_and_swap(office: Office) -> None:
    """A stale expected hash or a missing item is refused and nothing changes."""
    storage = office.storage
    await remove_reviewer(storage, "bob", audit=office.audit, actor="admin")
    target = TargetSet.of(await storage.recipients.active())
    report = await storage.reports.get(office.report_ids[0])
    assert report is not None
    fresh = rewrap_item(report.summary.report_id, report.items[0], [office.alice.identity], target)
    with pytest.raises(HeaderConflictError):
        await storage.reports.replace_header(
            fresh.report_id, fresh.seq, "0" * 64, fresh.new_header, fresh.recipient_key_ids
        )
    with pytest.raises(ItemNotFoundError):
        await storage.reports.replace_header(
            fresh.report_id, 99, fresh.expected_old_sha256, fresh.new_header,
            fresh.recipient_key_ids,
        )
    unchanged = await storage.reports.get(fresh.report_id)
    assert unchanged is not None and unchanged.items[0].header == report.items[0].header

    stale = HeaderReplacement(
        fresh.report_id, 1, "f" * 64, fresh.new_header, fresh.recipient_key_ids
    )
    rejected = await storage.reports.replace_headers([fresh, stale])
    assert rejected == [stale]
    swapped = await storage.reports.get(fresh.report_id)
    assert swapped is not None
    assert swapped.items[0].header == fresh.new_header
    assert swapped.items[0].recipient_key_ids == target.key_ids
    assert swapped.items[1].header == report.items[1].header
    # The winner's swap makes the loser's expected hash stale: a second swap is refused.
    with pytest.raises(HeaderConflictError):
        await storage.reports.replace_header(
            fresh.report_id, 0, fresh.expected_old_sha256, fresh.new_header, target.key_ids
        )


async def test_reencrypt_gives_new_payloads_only_current_recipients_open(
    office: Office, tmp_path: Path
) -> None:
    """After bob's key leaks: new payload bytes, bob opens nothing, custody still verifies."""
    storage, audit = office.storage, office.audit
    original = await office.plaintexts(office.alice)
    leaked = await office.items()
    plan = tmp_path / "plan.json"
    with pytest.raises(KeyRotationError, match="still an active recipient"):
        await reencrypt_store(
            storage, [office.alice.identity], audit=audit, actor="admin",
            custody_key=office.keys.custody_key, plan_path=plan, key_id=office.bob.key_id,
        )
    await remove_reviewer(storage, "bob", audit=audit, actor="admin")
    result = await reencrypt_store(
        storage, [office.alice.identity], audit=audit, actor="admin",
        custody_key=office.keys.custody_key, plan_path=plan, key_id=office.bob.key_id,
    )
    assert (result.planned, result.reencrypted, result.complete) == (6, 6, True)
    assert not plan.exists()
    now = await office.items()
    old_ids = {i for _r, _s, i, _h, _p in leaked}
    old_payloads = {p for _r, _s, _i, _h, p in leaked}
    assert not old_ids & {i for _r, _s, i, _h, _p in now}
    assert not old_payloads & {p for _r, _s, _i, _h, p in now}
    assert not any(storage.blobs.exists(i) for i in old_ids)
    assert sorted(storage.blobs.names()) == sorted(i for _r, _s, i, _h, _p in now)
    assert await office.plaintexts(office.alice) == original
    assert await office.plaintexts(office.recovery) == original
    assert set((await office.plaintexts(office.bob)).values()) == {None}
    assert await storage.reports.item_refs(key_id=office.bob.key_id) == []
    public = custody_public_key(office.keys.custody_key)
    for report_id in office.report_ids:
        opened = await open_report(storage, report_id, [office.recovery.identity], public)
        assert opened.custody_valid and all(a.intact for a in opened.attachments)
        report = await storage.reports.get(report_id)
        assert report is not None
        for item in report.items:
            with storage.blobs.open(item.item_id) as blob:
                assert hashlib.sha256(blob.read()).hexdigest() == item.payload_sha256
    entries = await audit.entries()
    assert [e.action for e in entries].count("item.reencrypt") == 6
    assert (await audit.verify()).ok


async def test_interrupted_reencrypt_resumes_and_leaves_no_old_blob(
    office: Office, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after a swap but before the old blob's deletion, and one mid-run: both finish."""
    storage, audit = office.storage, office.audit
    original = await office.plaintexts(office.alice)
    await remove_reviewer(storage, "bob", audit=audit, actor="admin")
    plan = tmp_path / "plan.json"
    real_swap = storage.reports.replace_payload
    calls = 0

    async def swap_then_crash(replacement: PayloadReplacement) -> None:
        nonlocal calls
        await real_swap(replacement)
        calls += 1
        if calls == 2:
            raise Interrupt()  # committed, but the old blob is not deleted yet

    async def run(progress: StopAfter | None = None) -> ReencryptResult:
        return await reencrypt_store(
            storage, [office.alice.identity], audit=audit, actor="admin",
            custody_key=office.keys.custody_key, plan_path=plan, key_id=office.bob.key_id,
            progress=progress,
        )

    monkeypatch.setattr(storage.reports, "replace_payload", swap_then_crash)
    with pytest.raises(Interrupt):
        await run()
    monkeypatch.setattr(storage.reports, "replace_payload", real_swap)
    assert plan.exists()
    assert len(storage.blobs.names()) == 7  # six items and the one old blob left behind
    with pytest.raises(Interrupt):
        await run(StopAfter(3))
    assert await office.plaintexts(office.alice) == original
    with pytest.raises(KeyRotationError, match="unfinished re-encryption"):
        await reencrypt_store(
            storage, [office.alice.identity], audit=audit, actor="admin",
            custody_key=office.keys.custody_key, plan_path=plan,
        )
    result = await run()
    assert result.resumed and result.complete
    assert result.already_done == 3 and result.reencrypted == 3
    assert not plan.exists()
    now = await office.items()
    assert sorted(storage.blobs.names()) == sorted(i for _r, _s, i, _h, _p in now)
    assert await office.plaintexts(office.alice) == original
    assert set((await office.plaintexts(office.bob)).values()) == {None}
    assert (await audit.verify()).ok


async def test_tampered_payload_is_not_resigned(office: Office, tmp_path: Path) -> None:
    """A blob that no longer matches the signed manifest is left alone and reported."""
    storage = office.storage
    await remove_reviewer(storage, "bob", audit=office.audit, actor="admin")
    report = await storage.reports.get(office.report_ids[1])
    assert report is not None
    (answers,) = report.items
    blob_path = storage.blobs.root / answers.item_id[:2] / answers.item_id
    tampered = bytearray(blob_path.read_bytes())
    tampered[-1] ^= 1
    blob_path.write_bytes(bytes(tampered))
    result = await reencrypt_store(
        storage, [office.alice.identity], audit=office.audit, actor="admin",
        custody_key=office.keys.custody_key, plan_path=tmp_path / "plan.json",
    )
    assert result.custody_failures == [f"{report.summary.report_id}:0"]
    assert result.reencrypted == 5 and not result.complete
    after = await storage.reports.get(report.summary.report_id)
    assert after is not None and after.manifest == report.manifest
    assert blob_path.read_bytes() == bytes(tampered)


async def test_recovery_recipient_is_single_unless_replaced(office: Office) -> None:
    """A second recovery key is refused without --replace, and retires the old one with it."""
    storage, audit = office.storage, office.audit
    newer = crypto.generate_identity().recipient
    with pytest.raises(RecipientError, match="--replace"):
        await add_recovery(storage, str(newer), audit=audit, actor="admin")
    record, retired = await add_recovery(
        storage, str(newer), replace=True, audit=audit, actor="admin"
    )
    assert record.kind is RecipientKind.RECOVERY
    assert [r.key_id for r in retired] == [office.recovery.key_id]
    active = await storage.recipients.active()
    assert [r.key_id for r in active if r.kind is RecipientKind.RECOVERY] == [record.key_id]
    removals = [e for e in await audit.entries() if e.action == "recipient.remove"]
    assert removals[-1].details == {
        "name": retired[0].name, "key_id": office.recovery.key_id, "kind": "recovery"
    }


def test_rewrapped_header_is_verified_without_being_a_recipient() -> None:
    """The caller need not be in the new set; a tampered new header or old MAC is refused."""
    caller, newcomer = crypto.generate_identity(), crypto.generate_identity()
    header, payload = crypto.seal_bytes(b"evidence", [caller.recipient])
    target = TargetSet((newcomer.recipient,), (crypto.key_id(newcomer.recipient),))
    new_header = rewrap_header(header, [caller], target)
    assert crypto.open_bytes(new_header, payload, [newcomer]) == b"evidence"
    with pytest.raises(crypto.DecryptionError):
        crypto.open_bytes(new_header, payload, [caller])
    assert crypto.header_file_key(new_header, [newcomer]) == crypto.header_file_key(
        header, [caller]
    )
    damaged = bytearray(header)
    damaged[-5] ^= 1  # inside the MAC line
    with pytest.raises(crypto.DecryptionError):
        rewrap_header(bytes(damaged), [caller], target)
    with pytest.raises(crypto.DecryptionError):
        crypto.header_file_key(header, [newcomer])
