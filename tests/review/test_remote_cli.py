"""`intake review --server URL ...` end to end against a live API, and the same tools locally."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import crypto
from cli.main import main
from review.local import InvalidRequestError
from review.remote import RemoteBackend
from review.tools import pull
from storage import Storage
from storage.server_keys import load_or_create_server_keys
from tests.review.api_support import LiveApi, live_api
from tests.review.sealed_reports import DAY, sealed_report


async def _intake(args: list[str], env: dict[str, str], data_dir: Path) -> Result:
    """Run the real CLI in a thread (it runs its own event loop), as a shell would."""
    full_env = {"INTAKE_DATA_DIR": str(data_dir), "INTAKE_REVIEW_TOKEN": "", **env}
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, args, env=full_env, catch_exceptions=False)


async def _remote(api: LiveApi, tmp_path: Path, *args: str) -> Result:
    token_file = tmp_path / "token"
    token_file.write_text(api.reviewer_token + "\n")
    return await _intake(
        ["review", "--server", api.url, "--token-file", str(token_file), *args], {},
        tmp_path / "client-data",
    )


async def test_remote_cli_end_to_end(storage: Storage, tmp_path: Path) -> None:
    """Every reviewer command works over the API; decryption and sealing stay on the client."""
    witness = crypto.generate_identity()
    key = tmp_path / "key.txt"
    async with live_api(storage) as api:
        key.write_text(f"# reviewer\n{api.reviewer}\n")
        report_id = await sealed_report(
            storage, api.custody_key, [api.reviewer.recipient], attachments=[b"photo bytes"],
            witness=witness.recipient, answer="soldiers at the bridge",
        )
        other = await sealed_report(storage, api.custody_key, [api.reviewer.recipient])

        async def ok(*args: str) -> str:
            result = await _remote(api, tmp_path, *args)
            assert result.exit_code == 0, result.output
            return result.output

        assert report_id in await ok("list")
        # A short id resolves over the API too (one index range on the server: /v1/report-ids).
        assert await ok("claim", report_id[:6]) == f"{report_id} is assigned to rita\n"
        async with RemoteBackend(api.url, api.reviewer_token) as backend:
            assert await backend.report_ids_with_prefix(report_id[:8]) == [report_id]
            with pytest.raises(InvalidRequestError, match="4 to 32 lowercase hexadecimal"):
                await backend.report_ids_with_prefix("ABC")
            assert sorted(await backend.report_ids_with_prefix(report_id[:4])) in (
                [report_id], sorted([report_id, other])
            )
        assert await ok("claim", report_id) == f"{report_id} is assigned to rita\n"
        await ok("status", report_id, "in_progress")
        await ok("priority", report_id, "high")
        await ok("label", report_id, "add", "checked-by-two")
        await ok("assign", other, "bo")
        listed = await ok("list", "--status", "in_progress", "--label", "checked-by-two")
        assert listed.splitlines()[0].startswith("ID\tRECEIVED\t")
        assert listed.splitlines()[1].split("\t")[:5] == [
            report_id, "2026-11-24", "in_progress", "high", "rita"
        ]
        assert other not in listed
        assert other in await ok("list", "--assignee", "bo")
        assert "no more reports" in await ok("list", "--page", "3", "--page-size", "1")
        first = await ok("list", "--page-size", "1", "--total")
        assert "2 report(s) match" in first
        cursor = first.split("next page: --cursor ")[1].split()[0]
        second = await ok("list", "--page-size", "1", "--cursor", cursor)
        assert "next page" not in second
        assert {first.splitlines()[1].split()[0], second.splitlines()[1].split()[0]} == {
            report_id, other
        }
        await ok("label", report_id, "remove", "checked-by-two")
        await ok("note", report_id, "met the witness's lawyer ✓")
        await ok("note", report_id, "\x1b[2Jwiped")
        notes = await ok("notes", report_id, "--identity", str(key))
        assert "rita: met the witness's lawyer ✓" in notes
        assert "\x1b" not in notes and "rita: \\x1b[2Jwiped" in notes
        await ok("ask", report_id, "Which bridge?")
        shown = await ok("show", report_id, "--identity", str(key))
        assert "soldiers at the bridge" in shown and "valid" in shown
        # The question was sealed to the reviewers too, so `show` reads it back over the API.
        assert "question from the reviewers on" in shown and "  Which bridge?" in shown
        first = await ok("pull", "--out", str(tmp_path / "pulled"))
        assert first.startswith("7 file(s) written, 0 already")
        second = await ok("pull", "--out", str(tmp_path / "pulled"))
        assert second.startswith("0 file(s) written, 7 already")
        exported = await ok("export", report_id, "--out", str(tmp_path / "bundle"),
                            "--identity", str(key), "--to", "counsel")
        assert "custody signature valid" in exported
        checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "bundle",
                                 capture_output=True, check=False)
        assert checked.returncode == 0

        stored = await storage.reports.get(report_id)
        assert stored is not None
        assert (stored.summary.status, stored.summary.priority) == ("in_progress", "high")
        [message] = await storage.triage.witness_messages(report_id)
        header, offset = crypto.split_header(message.sealed)
        assert crypto.open_bytes(header, message.sealed[offset:], [witness]) == b"Which bridge?"
        entries = await api.audit.entries()
        assert {e.actor for e in entries} == {"rita"}
        trail = b"".join(r.entry for r in await storage.audit.entries())
        assert b"lawyer" not in trail and b"bridge" not in trail


async def test_remote_cli_refusals_are_clear(storage: Storage, tmp_path: Path) -> None:
    """Missing, wrong or revoked tokens and plain http to another host end with one clear line."""
    async with live_api(storage) as api:
        no_token = await _intake(["review", "--server", api.url, "list"], {}, tmp_path)
        assert no_token.exit_code == 1 and "--token-file" in no_token.output
        wrong = await _intake(["review", "--server", api.url, "list"],
                              {"INTAKE_REVIEW_TOKEN": "ik_wrong"}, tmp_path)
        assert wrong.exit_code == 1 and "not valid" in wrong.output
        plain = await _intake(["review", "--server", "http://intake.example", "list"],
                              {"INTAKE_REVIEW_TOKEN": "x"}, tmp_path)
        assert plain.exit_code == 1 and "https://" in plain.output
        await api.call("DELETE", "/v1/admin/credentials/rita", api.admin_token)
        revoked = await _remote(api, tmp_path, "list")
        assert revoked.exit_code == 1 and "revoked" in revoked.output
        bad_id = await _intake(["review", "--server", api.url, "status", "nope", "closed"],
                               {"INTAKE_REVIEW_TOKEN": api.admin_token}, tmp_path)
        assert bad_id.exit_code == 1 and "32 lowercase" in bad_id.output


async def test_remote_backend_rewraps_and_pull_follows(storage: Storage, tmp_path: Path) -> None:
    """An admin's RemoteBackend re-wraps a header; an incremental pull rewrites just that file."""
    newcomer = crypto.generate_identity()
    async with live_api(storage) as api:
        report_id = await sealed_report(storage, api.custody_key, [api.reviewer.recipient])
        async with RemoteBackend(api.url, api.admin_token) as admin:
            assert admin.actor == "ada"
            assert await pull(admin, tmp_path / "pulled") == (3, 0)
            item = (await admin.get_report(report_id)).items[0]
            new = crypto.rewrap(item.header, [api.reviewer], [newcomer.recipient])
            await admin.replace_header(report_id, 0, hashlib.sha256(item.header).hexdigest(),
                                       new, (crypto.key_id(newcomer.recipient),))
            payload = await admin.read_payload(report_id, 0)
            assert crypto.open_bytes(new, payload, [newcomer])
            assert (await admin.custody_public_pem()).startswith(b"-----BEGIN PUBLIC KEY")
            # Pulling again rewrites only the re-wrapped item's file.
            assert await pull(admin, tmp_path / "pulled") == (1, 2)
            pulled = (tmp_path / "pulled" / report_id / "00-answers.age").read_bytes()
            assert pulled == new + payload


async def test_local_cli_uses_the_data_directory(tmp_path: Path, database_url: str) -> None:
    """Without --server the same commands work on the data directory, recorded under --as."""
    data_dir = tmp_path / "data"
    env = {"INTAKE_DATABASE_URL": database_url}
    reviewer = crypto.generate_identity()
    key = tmp_path / "key.txt"
    key.write_text(str(reviewer) + "\n")
    keys = load_or_create_server_keys(data_dir)
    store = await Storage.open(database_url, data_dir / "blobs")
    try:
        await store.recipients.add("lee", str(reviewer.recipient),
                                   crypto.key_id(reviewer.recipient), DAY)
        report_id = await sealed_report(store, keys.custody_key, [reviewer.recipient],
                                        answer="local answer")
    finally:
        await store.close()
    for args in (["claim", report_id], ["status", report_id, "closed"],
                 ["note", report_id, "local note"]):
        result = await _intake(["review", "--as", "lee", *args], env, data_dir)
        assert result.exit_code == 0, result.output
    shown = await _intake(["review", "show", report_id, "-i", str(key)], env, data_dir)
    assert "local answer" in shown.output and "valid" in shown.output
    notes = await _intake(["review", "notes", report_id, "-i", str(key)], env, data_dir)
    assert "lee: local note" in notes.output
    listed = await _intake(["review", "list", "--status", "closed"], env, data_dir)
    assert f"{report_id}\t2026-11-24\tclosed\tnormal\tlee" in listed.output
