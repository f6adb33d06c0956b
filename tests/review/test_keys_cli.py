"""The `intake keys`, `intake audit` and `intake reviewer` commands, through click's runner.

The commands call asyncio.run themselves, so async tests run them in a worker thread, against
the same real SQLite file or PostgreSQL database the test prepared.
"""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update

import crypto
from cli.main import main
from review.identities import load_identities
from storage import Storage
from storage.models import AuditRow
from storage.server_keys import load_or_create_server_keys
from tests.crypto.test_age_cli import run_in_pty
from tests.review.test_keys import age_open, intake_key, keygen_key, submit
from tests.support import skip_or_fail

PASSPHRASE = "a long and unguessable passphrase"


def intake(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env, input=stdin, catch_exceptions=False)


def test_keys_new_writes_a_passphrase_file_the_stock_age_cli_uses(tmp_path: Path) -> None:
    """`keys new` asks twice, writes an age passphrase file and prints the recipient."""
    if shutil.which("age") is None:
        skip_or_fail("Debian's age CLI is not installed (apt-get install age)")
    key_file = tmp_path / "me.age"
    mismatch = intake(["keys", "new", "--out", str(key_file)],
                      stdin=f"{PASSPHRASE}\nsomething else\n{PASSPHRASE}\n{PASSPHRASE}\n")
    assert mismatch.exit_code == 0, mismatch.output
    assert "do not match" in mismatch.output
    recipient = mismatch.stdout.strip().splitlines()[-1]
    assert recipient.startswith("age1") and PASSPHRASE not in mismatch.output
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN AGE ENCRYPTED FILE-----")
    assert b"AGE-SECRET-KEY" not in key_file.read_bytes()
    (identity,) = load_identities(key_file, lambda: PASSPHRASE)
    assert isinstance(identity, crypto.X25519Identity)
    assert str(identity.recipient) == recipient

    # The stock CLI decrypts with it, asking for the passphrase on the terminal.
    message = tmp_path / "report.age"
    out = io.BytesIO()
    crypto.encrypt(io.BytesIO(b"sealed to the new key"), out, [crypto.parse_recipient(recipient)])
    message.write_bytes(out.getvalue())
    opened = tmp_path / "opened.txt"
    code, transcript = run_in_pty(
        [str(shutil.which("age")), "-d", "-i", str(key_file), "-o", str(opened), str(message)],
        [PASSPHRASE.encode()],
    )
    assert code == 0, transcript
    assert opened.read_bytes() == b"sealed to the new key"

    again = intake(["keys", "new", "--out", str(key_file)], stdin=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    assert again.exit_code == 1 and "already exists" in again.output


def test_keys_new_refuses_short_passphrases_and_can_skip_them(tmp_path: Path) -> None:
    """A short passphrase is asked again; --no-passphrase writes what age-keygen would."""
    key_file = tmp_path / "me.age"
    result = intake(["keys", "new", "--out", str(key_file)],
                    stdin=f"short\n{PASSPHRASE}\n{PASSPHRASE}\n")
    assert result.exit_code == 0 and "at least 8 characters" in result.output
    plain = tmp_path / "plain.txt"
    result = intake(["keys", "new", "--no-passphrase", "--out", str(plain)])
    assert result.exit_code == 0, result.output
    (identity,) = crypto.parse_identities(plain.read_text())
    assert isinstance(identity, crypto.X25519Identity)
    assert str(identity.recipient) == result.stdout.strip().splitlines()[-1]
    assert "# public key: " + str(identity.recipient) in plain.read_text()


async def test_recovery_rewrap_and_audit_commands(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    """reviewer add/remove, keys recovery, keys rewrap, reviewer list and audit verify/show."""
    data_dir = tmp_path / "data"
    env = {"INTAKE_DATA_DIR": str(data_dir), "INTAKE_DATABASE_URL": database_url}

    async def run(*args: str) -> Result:
        return await asyncio.to_thread(intake, list(args), env)

    alice = keygen_key(tmp_path, "alice")
    bob = intake_key(tmp_path, "bob")
    recovery = keygen_key(tmp_path, "recovery")
    for name, key in (("alice", alice), ("bob", bob)):
        result = await run("reviewer", "add", "--name", name, "--recipient", key.public,
                           "--actor", "head-of-desk")
        assert result.exit_code == 0, result.output
    result = await run(
        "keys", "recovery", "--recipient", recovery.public, "--actor", "head-of-desk"
    )
    assert result.exit_code == 0, result.output
    assert "every new report is sealed to it" in result.output
    keys = load_or_create_server_keys(data_dir)
    report_id = await submit(storage, keys, "an incident", [b"a file"])

    listing = (await run("reviewer", "list")).output
    assert f"recovery-{recovery.key_id[:8]}\trecovery\t{recovery.key_id}" in listing
    assert f"alice\treviewer\t{alice.key_id}" in listing

    assert (await run("reviewer", "remove", "bob")).exit_code == 0
    result = await run("keys", "rewrap", "--identity", str(recovery.path), "--actor", "keeper")
    assert result.exit_code == 0, result.output
    assert "re-wrapped 2 item(s) to 2 recipient(s)" in result.output
    report = await storage.reports.get(report_id)
    assert report is not None
    for item in report.items:
        with storage.blobs.open(item.item_id) as blob:
            payload = blob.read()
        assert age_open(alice, item.header, payload, tmp_path) is not None
        assert age_open(bob, item.header, payload, tmp_path) is None

    result = await run("keys", "rewrap", "--identity", str(bob.path))
    assert result.exit_code == 0 and "re-wrapped 0 item(s)" in result.output

    result = await run("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "audit trail intact: 13 entries" in result.output
    shown = (await run("audit", "show")).output.splitlines()
    records = ["keys.rewrap_records.start", "keys.rewrap_records"]
    assert [line.split("\t")[3] for line in shown] == [
        "recipient.add", "recipient.add", "recipient.add", "recipient.remove",
        # The batch names the items it re-wrapped (each report's chain of custody shows them).
        "keys.rewrap.start", "keys.rewrap.batch", "keys.rewrap", *records,
        "keys.rewrap.start", "keys.rewrap", *records,
    ]
    assert shown[0].split("\t")[2] == "head-of-desk" and shown[4].split("\t")[2] == "keeper"
    assert b"an incident" not in b"".join(r.entry for r in await storage.audit.entries())

    entry = (await storage.audit.entries())[4]
    changed = bytearray(entry.entry)
    changed[changed.index(b"keeper")] ^= 0x01
    async with storage.engine.begin() as connection:
        await connection.execute(
            update(AuditRow).where(AuditRow.seq == entry.seq).values(entry=bytes(changed))
        )
    result = await run("audit", "verify")
    assert result.exit_code == 1
    assert "audit trail broken at entry 5 of 13" in result.output


async def test_rewrap_with_a_key_that_opens_nothing_fails_naming_the_fix(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    """Items the identity cannot open are reported and the command exits 1 with the fix."""
    env = {"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_DATABASE_URL": database_url}
    alice = keygen_key(tmp_path, "alice")
    bob = intake_key(tmp_path, "bob")
    await asyncio.to_thread(
        intake, ["reviewer", "add", "--name", "alice", "--recipient", alice.public], env
    )
    keys = load_or_create_server_keys(tmp_path / "data")
    await submit(storage, keys, "an incident", [])
    await asyncio.to_thread(
        intake, ["reviewer", "add", "--name", "bob", "--recipient", bob.public], env
    )
    result = await asyncio.to_thread(intake, ["keys", "rewrap", "-i", str(bob.path)], env)
    assert result.exit_code == 1
    assert "1 item(s) could not be opened with this identity" in result.output
    assert "run `intake keys rewrap` again" in result.output


def test_audit_verify_without_the_custody_key_names_the_fix(tmp_path: Path) -> None:
    """Pointing at a data directory without the server's custody key says what to do."""
    result = intake(["audit", "verify"], {"INTAKE_DATA_DIR": str(tmp_path / "elsewhere")})
    assert result.exit_code == 1
    assert "custody.key is missing" in result.output and "INTAKE_DATA_DIR" in result.output


@pytest.mark.parametrize("value", ["closed", "closed=0", "archived=3", "closed=1,closed=2"])
def test_bad_retention_setting_stops_with_one_line(tmp_path: Path, value: str) -> None:
    """A malformed INTAKE_RETENTION_DAYS stops any command with the variable and the fix."""
    result = intake(["retention", "run"], {
        "INTAKE_DATA_DIR": str(tmp_path), "INTAKE_RETENTION_DAYS": value,
    })
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: INTAKE_RETENTION_DAYS must be STATUS=DAYS pairs")
    assert "closed=90,rejected=30" in line


def test_wrong_passphrase_for_the_identity_names_the_problem(tmp_path: Path) -> None:
    """A passphrase-protected identity opened with the wrong passphrase is a one-line error."""
    key_file = tmp_path / "me.age"
    intake(["keys", "new", "--out", str(key_file)], stdin=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    (tmp_path / "data").mkdir()
    result = intake(["keys", "rewrap", "-i", str(key_file)],
                    {"INTAKE_DATA_DIR": str(tmp_path / "data")}, stdin="not the passphrase\n")
    assert result.exit_code == 1
    assert "could not unlock" in result.output and "wrong passphrase" in result.output
