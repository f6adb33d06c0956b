"""Channels, layer 3: a reviewer (or admin) of channel A meets a channel B report exactly as a
report that does not exist: 404 on every API route and console page, not in any list, nothing
changed; and their key is not a recipient of B's items (the stock `age` CLI refuses it)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import aiohttp

import crypto
from crypto.custody import custody_public_key
from review.audit import AuditTrail
from review.channels import add_channel
from review.console import Console
from review.local import LocalBackend
from storage import ChannelRecord, Role, Storage
from tests.review.api_support import DAY, LiveApi, live_api
from tests.review.sealed_reports import sealed_report
from tests.review.test_keys import Key, age_open, keygen_key

HEADER = {"headers": {"Content-Type": "application/octet-stream"}}


def _report_routes(report_id: str, sealed: bytes) -> list[tuple[str, str, dict[str, Any]]]:
    """Every API route that names a report, with a body it would accept."""
    base = f"/v1/reports/{report_id}"
    return [
        ("GET", base, {}),
        ("GET", base + "/items/0/header", {}),
        ("GET", base + "/items/0/payload", {}),
        ("PUT", base + "/status", {"json": {"status": "closed"}}),
        ("PUT", base + "/priority", {"json": {"priority": "urgent"}}),
        ("PUT", base + "/assignee", {"json": {"assignee": "alice"}}),
        ("PUT", base + "/labels/seen", {}),
        ("DELETE", base + "/labels/seen", {}),
        ("GET", base + "/notes", {}),
        ("POST", base + "/notes", {"data": sealed, **HEADER}),
        ("GET", base + "/witness-messages", {}),
        ("POST", base + "/witness-messages", {"data": sealed, **HEADER}),
        ("POST", base + "/access", {"json": {"what": "opened", "items": [0]}}),
        ("GET", base + "/custody", {}),
    ]


async def _two_channels(api: LiveApi, tmp_path: Path) -> tuple[dict[str, Key], str, str]:
    storage = api.storage
    for slug in ("a", "b"):
        await add_channel(storage, ChannelRecord(slug=slug, name=f"Partner {slug.upper()}"))
    keys = {name: keygen_key(tmp_path, name) for name in ("alice", "bob")}
    for name, slug in (("alice", "a"), ("bob", "b")):
        await storage.recipients.add(
            name, keys[name].public, keys[name].key_id, DAY, channel=slug
        )
    witness = crypto.generate_identity().recipient
    report_a = await sealed_report(
        storage, api.custody_key, [crypto.parse_recipient(keys["alice"].public)],
        channel="a", witness=witness, answer="seen in A",
    )
    report_b = await sealed_report(
        storage, api.custody_key, [crypto.parse_recipient(keys["bob"].public)],
        channel="b", witness=witness, answer="seen in B",
    )
    return keys, report_a, report_b


async def test_a_reviewer_of_channel_a_gets_404_for_every_route_of_a_b_report(
    storage: Storage, tmp_path: Path
) -> None:
    """Same status and same answer as for an id that never existed; B's report is unchanged;
    the same routes work on A's own report (so the 404s are not an accident)."""
    async with live_api(storage) as api:
        keys, report_a, report_b = await _two_channels(api, tmp_path)
        alice_token, admin_a = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await storage.credentials.add("alice", Role.REVIEWER, alice_token, DAY, "a")
        await storage.credentials.add("ana", Role.ADMIN, admin_a, DAY, "a")
        alice = crypto.parse_recipient(keys["alice"].public)
        sealed = b"".join(crypto.seal_bytes(b"note", [alice]))
        before = await storage.reports.get(report_b)
        never = secrets.token_hex(16)
        for token in (alice_token, admin_a):
            for (method, path, kwargs), (_m, ghost, _k) in zip(
                _report_routes(report_b, sealed), _report_routes(never, sealed),
                strict=True,
            ):
                status, body = await api.call(method, path, token, **kwargs)
                ghost_status, ghost_body = await api.call(method, ghost, token, **kwargs)
                assert status == 404, (method, path, body)
                assert (status, body["error"].replace(report_b, never)) == (
                    ghost_status, ghost_body["error"]
                ), (method, path)
            status, _ = await api.call(
                "PUT", f"/v1/reports/{report_b}/items/0/header", admin_a,
                json={"header": "", "expected_old_sha256": "0" * 64,
                      "recipient_key_ids": [keys["alice"].key_id]},
            )
            assert status in (400, 404)
            status, listed = await api.call("GET", "/v1/reports", token)
            assert status == 200 and [r["id"] for r in listed["reports"]] == [report_a]
            for query in ("?page=1", "?total=true", "?status=new", f"?received_day={DAY}"):
                status, listed = await api.call("GET", "/v1/reports" + query, token)
                assert report_b not in {r["id"] for r in listed["reports"]}, query
            status, listed = await api.call("GET", "/v1/reports?total=true", token)
            assert listed["total"] == 1
            for prefix in (report_b[:4], report_b):
                status, found = await api.call("GET", f"/v1/report-ids?prefix={prefix}", token)
                assert status == 200 and report_b not in found["report_ids"], prefix
            status, found = await api.call(
                "GET", f"/v1/report-ids?prefix={report_a[:4]}", token
            )
            assert report_a in found["report_ids"]
            # Nor can they write "opened" entries into B's chain of custody in bulk.
            for pairs in ([[report_b, 0]], [[report_a, 0], [report_b, 0]], [[never, 0]]):
                status, body = await api.call("POST", "/v1/access", token,
                                              json={"items": pairs, "via": "console"})
                assert status == 404, (pairs, body)
        entries = [e.entry for e in await storage.audit.entries()]
        assert not any(b"access.opened.batch" in e for e in entries)
        # A's own report answers the same routes.
        for method, path, kwargs in _report_routes(report_a, sealed):
            status, body = await api.call(method, path, alice_token, **kwargs)
            assert status in (200, 201), (method, path, body)
        # B's report is as it was: nothing changed, nothing added.
        after = await storage.reports.get(report_b)
        assert after == before
        assert await storage.triage.notes(report_b) == []
        assert await storage.triage.witness_messages(report_b) == []
        # The global reviewer still sees both; B's reviewer key is not among A's recipients.
        status, listed = await api.call("GET", "/v1/reports", api.reviewer_token)
        assert {r["id"] for r in listed["reports"]} == {report_a, report_b}
        status, found = await api.call("GET", "/v1/recipients", alice_token)
        assert [r["name"] for r in found["recipients"]] == ["alice"]


async def test_a_channel_admin_manages_its_own_channel_only(
    storage: Storage, tmp_path: Path
) -> None:
    """Credentials and recipients lists show A's only; B's credential cannot be revoked (404);
    a credential for B cannot be made (403); the all-channel audit trail is refused (403)."""
    async with live_api(storage) as api:
        await _two_channels(api, tmp_path)
        admin_a = secrets.token_urlsafe(32)
        await storage.credentials.add("ana", Role.ADMIN, admin_a, DAY, "a")
        await storage.credentials.add("bea", Role.REVIEWER, secrets.token_urlsafe(32), DAY, "b")
        status, listed = await api.call("GET", "/v1/admin/credentials", admin_a)
        assert [c["name"] for c in listed["credentials"]] == ["ana"]
        status, listed = await api.call("GET", "/v1/admin/recipients", admin_a)
        assert [r["name"] for r in listed["recipients"]] == ["alice"]
        status, _ = await api.call("DELETE", "/v1/admin/credentials/bea", admin_a)
        assert status == 404
        status, _ = await api.call("POST", "/v1/admin/credentials", admin_a,
                                   json={"name": "bo", "role": "reviewer", "channel": "b"})
        assert status == 403
        status, made = await api.call("POST", "/v1/admin/credentials", admin_a,
                                      json={"name": "al", "role": "reviewer"})
        assert status == 201 and made["channel"] == "a"
        assert (await api.call("GET", "/v1/me", made["token"]))[1]["channel"] == "a"
        status, _ = await api.call("GET", "/v1/admin/audit", admin_a)
        assert status == 403
        status, _ = await api.call("GET", "/v1/admin/audit", api.admin_token)
        assert status == 200


async def test_alices_key_does_not_open_bs_items_with_the_stock_age_cli(
    storage: Storage, tmp_path: Path
) -> None:
    """Even holding B's ciphertext (from a global credential, or a copy of the server), the
    reviewer of A cannot open it: their key is not a recipient of B's items."""
    async with live_api(storage) as api:
        keys, report_a, report_b = await _two_channels(api, tmp_path)
        for report_id, opener, other in ((report_a, "alice", "bob"), (report_b, "bob", "alice")):
            stored = await storage.reports.get(report_id)
            assert stored is not None
            for item in stored.items:
                with storage.blobs.open(item.item_id) as blob:
                    payload = blob.read()
                assert age_open(keys[opener], item.header, payload, tmp_path) is not None
                assert age_open(keys[other], item.header, payload, tmp_path) is None


async def test_console_pages_of_a_b_report_are_404_for_a_reviewer_of_a(
    storage: Storage, tmp_path: Path
) -> None:
    """The console over a backend scoped to A: B's report page, its items, its similar-reports
    page and every form on it answer 404, as for a report that never existed."""
    async with live_api(storage) as api:
        keys, report_a, report_b = await _two_channels(api, tmp_path)
        backend = LocalBackend(
            storage, AuditTrail(storage.audit, api.custody_key), "alice",
            custody_key=api.custody_key, channel="a",
        )
        console = Console(backend, [keys["alice"].identity],
                          custody_public=custody_public_key(api.custody_key))
        await console.start()
        try:
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as browser:
                async with browser.get(console.url, allow_redirects=False) as response:
                    assert response.status == 303
                origin = console.session.origin
                async with browser.get(origin + "/") as response:
                    page = await response.text()
                    assert report_a in page and report_b not in page
                token = console.session.csrf_token
                for report_id, expected in ((report_b, 404), (report_a, 200)):
                    base = f"{origin}/reports/{report_id}"
                    for path in ("", "/items/1", "/similar"):
                        async with browser.get(base + path) as response:
                            if expected == 200 and path == "/items/1":
                                continue  # A's report has no attachment
                            assert response.status == expected, (report_id, path)
                    for form, data in (("/status", {"status": "closed"}),
                                       ("/priority", {"priority": "urgent"}),
                                       ("/assign", {"assignee": "alice"}),
                                       ("/labels/add", {"label": "seen"}),
                                       ("/notes", {"text": "a note"}),
                                       ("/witness", {"text": "a question"})):
                        async with browser.post(
                            base + form, data={**data, "csrf": token},
                            headers={"Origin": origin}, allow_redirects=False,
                        ) as response:
                            if expected == 404:
                                assert response.status == 404, form
                            else:
                                assert response.status in (200, 303), form
        finally:
            await console.stop()
        stored = await storage.reports.get(report_b)
        assert stored is not None and stored.summary.status == "new"
        assert await storage.triage.notes(report_b) == []


async def test_local_review_commands_are_scoped_like_the_api(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    """`intake review ... --as alice` on the data directory lists, pulls, shows, exports and
    changes A's reports only; B's report id is 'no report', as one that never existed."""
    import asyncio

    from click.testing import CliRunner

    from cli.main import main
    from storage.server_keys import load_or_create_server_keys

    data_dir = tmp_path / "data"
    custody = load_or_create_server_keys(data_dir).custody_key
    for slug in ("a", "b"):
        await add_channel(storage, ChannelRecord(slug=slug, name=slug))
    keys = {name: keygen_key(tmp_path, name) for name in ("alice", "bob")}
    for name, slug in (("alice", "a"), ("bob", "b")):
        await storage.recipients.add(name, keys[name].public, keys[name].key_id, DAY,
                                     channel=slug)
    report_a = await sealed_report(storage, custody, [crypto.parse_recipient(
        keys["alice"].public)], channel="a")
    report_b = await sealed_report(storage, custody, [crypto.parse_recipient(
        keys["bob"].public)], channel="b")
    env = {"INTAKE_DATA_DIR": str(data_dir), "INTAKE_DATABASE_URL": database_url,
           "INTAKE_REVIEW_ACTOR": None, "INTAKE_REVIEW_TOKEN": None}

    async def intake(*args: str) -> tuple[int, str]:
        result = await asyncio.to_thread(
            CliRunner().invoke, main, ["review", "--as", "alice", *args], env=env, input=""
        )
        return result.exit_code, result.output

    code, listed = await intake("list")
    assert code == 0 and report_a in listed and report_b not in listed
    code, out = await intake("show", report_b[:6], "--identity", str(keys["alice"].path))
    assert code != 0 and "no report starts with" in out, out
    code, out = await intake("pull", "--out", str(tmp_path / "pulled"))
    assert code == 0, out
    pulled = {p.name for p in (tmp_path / "pulled").iterdir() if p.is_dir()}
    assert report_a in pulled and report_b not in pulled
    identity = str(keys["alice"].path)
    for args in (("show", report_b, "--identity", identity),
                 ("export", report_b, "--out", str(tmp_path / "ex"), "--identity", identity,
                  "--to", "counsel"),
                 ("status", report_b, "closed"),
                 ("notes", report_b, "--identity", identity)):
        code, out = await intake(*args)
        assert code != 0 and f"no report {report_b}" in out, (args, out)
    stored = await storage.reports.get(report_b)
    assert stored is not None and stored.summary.status == "new"
    code, out = await intake("show", report_a, "--identity", identity)
    assert code == 0, out
