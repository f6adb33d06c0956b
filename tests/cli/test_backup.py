"""`intake backup`, `intake restore` and `intake migrate` as real processes on real stores:
what a backup holds and leaves out, and what a restore refuses or names when something is wrong.

The runs with `intake serve` and scripted witnesses are in tests/e2e/test_backup_live.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import crypto
from bot.chat_store import ChatStore
from bot.core.chat import ChatState
from crypto.drafts import DraftKeyring
from review.audit import AuditTrail
from review.recipients import add_reviewer
from storage import Storage, default_sqlite_url
from storage.server_keys import load_or_create_server_keys
from tests.review.sealed_reports import sealed_report
from tests.support import fresh_postgres_database


@dataclass
class Installation:
    data_dir: Path
    database_url: str
    draft_key: Path
    reports: list[str]

    def env(self, **more: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
        return {**base, "INTAKE_DATA_DIR": str(self.data_dir),
                "INTAKE_DATABASE_URL": self.database_url,
                "INTAKE_DRAFT_KEY_FILE": str(self.draft_key), **more}


def intake(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
        timeout=180, check=False,
    )


async def populate(database_url: str, data_dir: Path, draft_key: Path) -> Installation:
    """Three sealed reports (one with an attachment), audit entries, and two drafts."""
    draft_key.parent.mkdir(parents=True, mode=0o700)
    DraftKeyring.generate_file(draft_key)
    keys = load_or_create_server_keys(data_dir)
    reviewer = crypto.generate_identity()
    storage = await Storage.open(database_url, data_dir / "blobs")
    try:
        await add_reviewer(storage, "reviewer-a", str(reviewer.recipient))
        reports = [
            await sealed_report(storage, keys.custody_key, [reviewer.recipient],
                                attachments=[b"photo" * 100] if n == 0 else [])
            for n in range(3)
        ]
        trail = AuditTrail(storage.audit, keys.custody_key)
        for report_id in reports:
            await trail.record("alice", "status", report_id, {"status": "triaged"})
        chats = ChatStore(storage, DraftKeyring.from_file(draft_key), ttl_seconds=3600)
        for chat_id in (101, 102):
            await chats.commit(chats.chat_key(chat_id), [chats.update_key(1, chat_id)],
                               ChatState(trail=[1, 2]), [])
    finally:
        await storage.close()
    return Installation(data_dir, database_url, draft_key, reports)


@pytest.fixture
async def installation(database_url: str, tmp_path: Path) -> Installation:
    # The fixture's store is already migrated; an empty one keeps the test's own rows alone.
    return await populate(database_url, tmp_path / "data", tmp_path / "secret" / "draft.key")


def test_a_backup_holds_the_installation_but_not_the_draft_key(
    installation: Installation, tmp_path: Path
) -> None:
    backup, kept = tmp_path / "backup", tmp_path / "offsite" / "draft.key"
    done = intake(installation.env(), "backup", str(backup), "--draft-key-to", str(kept))
    assert done.returncode == 0, done.stderr
    assert "3 reports, 4 payloads" in done.stdout  # three answers and one attachment
    contents = json.loads((backup / "backup.json").read_bytes())
    assert contents["tables"]["reports"] == 3 and contents["tables"]["chat_states"] == 2
    assert contents["tables"]["audit_log"] == 3  # three status changes
    assert sorted(p.name for p in (backup / "keys").iterdir()) == ["custody.key", "server.key"]
    key = installation.draft_key.read_bytes()
    assert kept.read_bytes() == key
    for path in backup.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
        if path.is_file():
            assert key not in path.read_bytes(), path
    # The copy of the database is one file, readable by SQLite, as of one moment.
    with sqlite3.connect(backup / "intake.db") as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert copy.execute("SELECT count(*) FROM reports").fetchone() == (3,)


def test_the_draft_key_is_never_written_into_the_backup(
    installation: Installation, tmp_path: Path
) -> None:
    backup = tmp_path / "backup"
    done = intake(installation.env(), "backup", str(backup), "--draft-key-to",
                  str(backup / "draft.key"))
    assert done.returncode != 0
    assert "outside the backup folder" in done.stderr
    assert not backup.exists()


def test_restore_brings_it_back_and_checks_it(installation: Installation, tmp_path: Path) -> None:
    backup, kept = tmp_path / "backup", tmp_path / "offsite" / "draft.key"
    assert intake(installation.env(), "backup", str(backup), "--draft-key-to",
                  str(kept)).returncode == 0
    restored = tmp_path / "restored"
    env = installation.env(INTAKE_DATA_DIR=str(restored),
                           INTAKE_DATABASE_URL=default_sqlite_url(restored))
    del env["INTAKE_DRAFT_KEY_FILE"]
    done = intake(env, "restore", str(backup), "--draft-key", str(kept))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 of 3 custody manifests signed" in done.stdout
    assert "audit trail: 3 entries" in done.stdout
    assert "2 drafts and 0 unsent messages open with the draft key" in done.stdout
    assert (restored / "keys" / "draft.key").read_bytes() == installation.draft_key.read_bytes()
    listed = intake(installation.env(), "review", "list").stdout
    assert intake(env, "review", "list").stdout == listed
    assert all(report_id in listed for report_id in installation.reports)


def test_restore_refuses_a_directory_in_use_and_the_wrong_draft_key(
    installation: Installation, tmp_path: Path
) -> None:
    backup = tmp_path / "backup"
    assert intake(installation.env(), "backup", str(backup)).returncode == 0
    done = intake(installation.env(), "restore", str(backup))
    assert done.returncode != 0 and "is not empty" in done.stderr
    other = tmp_path / "other.key"
    DraftKeyring.generate_file(other)
    restored = tmp_path / "restored"
    env = installation.env(INTAKE_DATA_DIR=str(restored),
                           INTAKE_DATABASE_URL=default_sqlite_url(restored))
    done = intake(env, "restore", str(backup), "--draft-key", str(other))
    assert done.returncode != 0
    assert "is not the draft key the backup's drafts were sealed with" in done.stderr


def _restore(installation: Installation, backup: Path, tmp_path: Path) -> str:
    restored = tmp_path / "restored"
    env = installation.env(INTAKE_DATA_DIR=str(restored),
                           INTAKE_DATABASE_URL=default_sqlite_url(restored))
    done = intake(env, "restore", str(backup))
    assert done.returncode != 0
    return done.stdout + done.stderr


def test_restore_names_a_damaged_payload(installation: Installation, tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    assert intake(installation.env(), "backup", str(backup)).returncode == 0
    payload = next(p for p in (backup / "blobs").rglob("*") if p.is_file())
    data = bytearray(payload.read_bytes())
    data[-1] ^= 1
    payload.write_bytes(bytes(data))
    said = _restore(installation, backup, tmp_path)
    assert f"1 payloads damaged in the backup: {payload.name}" in said
    assert f"1 payloads missing: {payload.name}" in said  # and the check finds it absent


def test_restore_names_a_changed_database_and_a_rewritten_audit_trail(
    installation: Installation, tmp_path: Path
) -> None:
    """A database changed after the backup is refused; one rewritten together with
    backup.json's hash (by whoever could write both) fails the audit trail's signatures."""
    backup = tmp_path / "backup"
    assert intake(installation.env(), "backup", str(backup)).returncode == 0
    with sqlite3.connect(backup / "intake.db") as copy:
        copy.execute("UPDATE audit_log SET entry = "
                     "CAST(replace(entry, 'triaged', 'rejected') AS BLOB) WHERE seq = 3")
    assert "changed since the backup was made" in _restore(installation, backup, tmp_path)
    contents = json.loads((backup / "backup.json").read_bytes())
    contents["files"]["intake.db"] = hashlib.sha256(
        (backup / "intake.db").read_bytes()).hexdigest()
    (backup / "backup.json").write_text(json.dumps(contents))
    said = _restore(installation, backup, tmp_path / "again")
    assert "audit trail broken at entry 3" in said
    # An entry stored as text instead of bytes is named too, not a traceback.
    with sqlite3.connect(backup / "intake.db") as copy:
        copy.execute("UPDATE audit_log SET entry = CAST(entry AS TEXT) WHERE seq = 2")
    contents["files"]["intake.db"] = hashlib.sha256(
        (backup / "intake.db").read_bytes()).hexdigest()
    (backup / "backup.json").write_text(json.dumps(contents))
    said = _restore(installation, backup, tmp_path / "third")
    assert "audit trail broken at entry 2" in said and "stored as text" in said
    assert "Traceback" not in said


async def test_migrate_carries_a_sqlite_installation_into_postgresql(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    installation = await populate(default_sqlite_url(data_dir), data_dir,
                                  tmp_path / "secret" / "draft.key")
    env = installation.env()
    assert intake(env, "channel", "add", "partner", "--name", "Partner org",
                  "--retention", "closed=30").returncode == 0
    token = intake(env, "credentials", "add", "--name", "alice", "--channel", "partner")
    assert token.returncode == 0, token.stderr
    listings = [("review", "list"), ("channel", "list"), ("credentials", "list"),
                ("reviewer", "list"), ("audit", "show")]
    before = [intake(env, *listing).stdout for listing in listings]
    async with fresh_postgres_database() as target:
        done = intake(installation.env(), "migrate", "--to", target)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "moved 3 reports, 2 drafts" in done.stdout
        assert "2 drafts and 0 unsent messages open with the draft key" in done.stdout
        assert not (data_dir / "intake.db").exists()
        assert (data_dir / "intake.db.moved").exists()
        moved = installation.env(INTAKE_DATABASE_URL=target)
        # Reports, channels, credentials, reviewers and the audit trail read the same.
        assert [intake(moved, *listing).stdout for listing in listings] == before
        assert "partner" in before[1] and "alice" in before[2]
        assert intake(moved, "audit", "verify").returncode == 0
        # Numbered rows go on after the copied ones: a new credential and audit entry.
        assert intake(moved, "credentials", "add", "--name", "bob").returncode == 0
        assert intake(moved, "audit", "verify").returncode == 0
        # A second move into the same database is refused: it holds an installation now.
        again = tmp_path / "again"
        second = await populate(default_sqlite_url(again), again, tmp_path / "k2" / "draft.key")
        done = intake(second.env(), "migrate", "--to", target)
        assert done.returncode != 0 and "already holds an installation" in done.stderr
        assert (again / "intake.db").exists()


def test_migrate_refuses_a_source_already_on_postgresql(tmp_path: Path) -> None:
    env = {**os.environ, "INTAKE_DATA_DIR": str(tmp_path),
           "INTAKE_DATABASE_URL": "postgresql+asyncpg://intake@127.0.0.1/intake"}
    done = intake(env, "migrate", "--to", "postgresql://intake@127.0.0.1/other")
    assert done.returncode != 0 and "already runs on PostgreSQL" in done.stderr


async def test_payloads_moved_into_postgresql_are_backed_up_and_restored_from_there(
    tmp_path: Path,
) -> None:
    """`migrate --payloads database` puts every payload into PostgreSQL's payload table: with
    the data directory's payload files gone, a backup reads them from the table, and a restore
    into a new SQLite installation checks out whole."""
    data_dir = tmp_path / "data"
    installation = await populate(default_sqlite_url(data_dir), data_dir,
                                  tmp_path / "secret" / "draft.key")
    async with fresh_postgres_database() as target:
        done = intake(installation.env(), "migrate", "--to", target, "--payloads", "database")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "INTAKE_PAYLOADS=database" in done.stdout
        shutil.rmtree(data_dir / "blobs")
        moved = installation.env(INTAKE_DATABASE_URL=target, INTAKE_PAYLOADS="database")
        backup = tmp_path / "backup"
        done = intake(moved, "backup", str(backup))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "3 reports, 4 payloads" in done.stdout
    restored = tmp_path / "restored"
    env = installation.env(INTAKE_DATA_DIR=str(restored),
                           INTAKE_DATABASE_URL=default_sqlite_url(restored))
    done = intake(env, "restore", str(backup))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 of 3 custody manifests signed" in done.stdout
