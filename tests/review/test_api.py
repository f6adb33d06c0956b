"""The reviewer API over a live loopback port: queue, items, triage, notes, admin, bad input."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import aiohttp

import crypto
from review.api.app import CLIENT_MAX_SIZE
from storage import Storage
from tests.review.api_support import live_api
from tests.review.sealed_reports import DAY, sealed_report


async def test_queue_filters_and_paging(storage: Storage) -> None:
    """The queue lists minimal metadata, filters by every field and pages without overlap."""
    async with live_api(storage) as api:
        ids = [await sealed_report(storage, api.custody_key, [api.reviewer.recipient])
               for _ in range(5)]
        token = api.reviewer_token
        assert (await api.call("PUT", f"/v1/reports/{ids[0]}/status", token,
                               json={"status": "closed"}))[0] == 200
        assert (await api.call("PUT", f"/v1/reports/{ids[1]}/priority", token,
                               json={"priority": "urgent"}))[0] == 200
        assert (await api.call("PUT", f"/v1/reports/{ids[2]}/assignee", token,
                               json={"assignee": "rita"}))[0] == 200
        label_path = f"/v1/reports/{ids[3]}/labels/needs%20lawyer"
        assert (await api.call("PUT", label_path, token))[0] == 200
        status, body = await api.call("GET", "/v1/reports", token)
        assert status == 200 and len(body["reports"]) == 5
        assert set(body["reports"][0]) == {
            "id", "received_day", "status", "priority", "assignee", "item_count", "labels",
            "channel",
        }
        assert {r["channel"] for r in body["reports"]} == {"default"}
        for query, expected in (
            ("status=closed", ids[0]), ("priority=urgent", ids[1]), ("assignee=rita", ids[2]),
            ("label=needs%20lawyer", ids[3]),
        ):
            _, found = await api.call("GET", f"/v1/reports?{query}", token)
            assert [r["id"] for r in found["reports"]] == [expected], query
        _, today = await api.call("GET", f"/v1/reports?received_day={DAY}", token)
        assert len(today["reports"]) == 5
        _, other = await api.call("GET", "/v1/reports?received_day=2020-01-01", token)
        assert other["reports"] == []
        pages = [(await api.call("GET", f"/v1/reports?page={p}&page_size=2", token))[1]["reports"]
                 for p in (1, 2, 3)]
        assert [len(p) for p in pages] == [2, 2, 1]
        assert [r["id"] for p in pages for r in p] == [r["id"] for r in body["reports"]]
        actions = [(e.actor, e.action) for e in await api.audit.entries()]
        assert actions == [("rita", "report.status"), ("rita", "report.priority"),
                           ("rita", "report.assign"), ("rita", "report.label_add")]


async def test_cursor_paging_over_the_api(storage: Storage) -> None:
    """Following next_cursor gives every report once, in the first page's order, with filters
    and a total only when asked for; the last page says null."""
    async with live_api(storage) as api:
        ids = [await sealed_report(storage, api.custody_key, [api.reviewer.recipient])
               for _ in range(5)]
        token = api.reviewer_token
        for report_id in ids[:3]:
            assert (await api.call("PUT", f"/v1/reports/{report_id}/status", token,
                                   json={"status": "closed"}))[0] == 200
        _, everything = await api.call("GET", "/v1/reports?total=true", token)
        assert everything["total"] == 5 and everything["next_cursor"] is None
        for query, expected in (("", 5), ("&status=closed", 3)):
            seen: list[str] = []
            status, body = await api.call("GET", f"/v1/reports?page_size=2{query}", token)
            assert "total" not in body
            while True:
                assert status == 200
                seen.extend(r["id"] for r in body["reports"])
                if body["next_cursor"] is None:
                    break
                status, body = await api.call(
                    "GET", f"/v1/reports?page_size=2{query}&cursor={body['next_cursor']}", token
                )
            assert len(seen) == expected == len(set(seen))
            assert seen == [r["id"] for r in everything["reports"] if r["id"] in seen]


async def test_payload_streams_exact_bytes(storage: Storage) -> None:
    """A multi-megabyte payload streams byte for byte; header + payload opens with the key."""
    big = os.urandom(3 * 1024 * 1024 + 17)
    async with live_api(storage) as api:
        report_id = await sealed_report(
            storage, api.custody_key, [api.reviewer.recipient], attachments=[big]
        )
        _, report = await api.call("GET", f"/v1/reports/{report_id}", api.reviewer_token)
        item = report["items"][1]
        url = f"{api.url}/v1/reports/{report_id}/items/1/payload"
        headers = {"Authorization": f"Bearer {api.reviewer_token}"}
        received = bytearray()
        async with api.http.get(url, headers=headers) as response:
            assert response.status == 200
            assert response.content_length == item["payload_size"]
            async for chunk in response.content.iter_chunked(65536):
                received += chunk
        assert hashlib.sha256(received).hexdigest() == item["payload_sha256"]
        _, header = await api.call("GET", f"/v1/reports/{report_id}/items/1/header",
                                   api.reviewer_token)
        assert header == base64.b64decode(item["header"])
        assert crypto.open_bytes(header, bytes(received), [api.reviewer]) == big
        status, body = await api.call("GET", f"/v1/reports/{report_id}/items/7/payload",
                                      api.reviewer_token)
        assert status == 404 and "no item 7" in body["error"]


async def test_malformed_requests_are_refused_without_harm(storage: Storage) -> None:
    """Bad ids, bad JSON, wrong types, unknown values and oversized bodies get clear 4xx errors."""
    async with live_api(storage) as api:
        report_id = await sealed_report(storage, api.custody_key, [api.reviewer.recipient])
        t = api.reviewer_token
        base = f"/v1/reports/{report_id}"
        cases = [
            ("GET", "/v1/reports/NOT-AN-ID", {}, 400, "32 lowercase"),
            ("GET", "/v1/reports/" + "0" * 32, {}, 404, "no report"),
            ("GET", f"{base}/items/x/payload", {}, 400, "sequence number"),
            ("GET", "/v1/reports?page=-1", {}, 400, "whole number"),
            ("GET", "/v1/reports?page=0", {}, 400, "start at 1"),
            ("GET", "/v1/reports?page_size=100000", {}, 400, "page_size"),
            ("GET", "/v1/reports?received_day=yesterday", {}, 400, "YYYY-MM-DD"),
            ("GET", "/v1/reports?cursor=not-a-cursor", {}, 400, "cursor"),
            ("GET", "/v1/reports?cursor=", {}, 400, "cursor"),
            ("GET", "/v1/reports?cursor=" + "A" * 500, {}, 400, "cursor"),
            ("GET", "/v1/reports?total=yes", {}, 400, "total must be"),
            ("GET", "/v1/reports?status=gone", {}, 400, "status must be"),
            ("PUT", f"{base}/status", {"data": b"{not json"}, 400, "not valid JSON"),
            ("PUT", f"{base}/status", {"data": b"\xff\xfe"}, 400, "not valid JSON"),
            ("PUT", f"{base}/status", {"json": ["closed"]}, 400, "JSON object"),
            ("PUT", f"{base}/status", {"data": b"[" * 100_000}, 400, "JSON"),
            ("POST", f"{base}/access", {"data": b"[" * 60_000}, 400, "nested too deeply"),
            ("POST", "/v1/access", {"data": b"[" * 60_000}, 400, "nested too deeply"),
            ("POST", "/v1/access", {"data": b"[" * 70_000}, 400, "larger than"),
            ("PUT", f"{base}/status", {"json": {}}, 400, "needs the field"),
            ("PUT", f"{base}/status", {"json": {"status": 3}}, 400, "must be a string"),
            ("PUT", f"{base}/status", {"json": {"status": "gone"}}, 400, "status must be"),
            ("PUT", f"{base}/assignee", {"json": {"assignee": "<script>"}}, 400, "assignee"),
            ("PUT", f"{base}/labels/BAD%2Flabel", {}, 400, "labels are"),
            ("POST", f"{base}/notes", {"data": b"hello"}, 400, "not a binary age file"),
            ("POST", f"{base}/notes", {"data": b"x" * (300 * 1024)}, 413, "larger than"),
            ("PUT", f"{base}/status", {"data": b" " * (CLIENT_MAX_SIZE + 1)}, 413, "larger than"),
            ("POST", f"{base}/witness-messages", {"data": b"x"}, 400, "no witness recipient"),
        ]
        for method, path, kwargs, expected, words in cases:
            status, body = await api.call(method, path, t, **kwargs)
            assert status == expected and words in body["error"], (method, path, status, body)
        stored = await storage.reports.get(report_id)
        assert stored is not None and stored.summary.status == "new"
        assert await storage.audit.count() == 0
        assert (await api.call("GET", "/v1/me", t)) == (200, {"name": "rita", "role": "reviewer"})


async def test_note_round_trip(storage: Storage) -> None:
    """A note sealed on the client to the listed recipients is stored and opens locally."""
    async with live_api(storage) as api:
        report_id = await sealed_report(storage, api.custody_key, [api.reviewer.recipient])
        t = api.reviewer_token
        _, listed = await api.call("GET", "/v1/recipients", t)
        recipients = [crypto.parse_recipient(r["recipient"]) for r in listed["recipients"]]
        sealed = b"".join(crypto.seal_bytes("the witness is safe ✓".encode(), recipients))
        status, note = await api.call("POST", f"/v1/reports/{report_id}/notes", t, data=sealed)
        assert status == 201 and note["author"] == "rita"
        _, notes = await api.call("GET", f"/v1/reports/{report_id}/notes", t)
        blob = base64.b64decode(notes["notes"][0]["sealed"])
        header, offset = crypto.split_header(blob)
        opened = crypto.open_bytes(header, blob[offset:], [api.reviewer])
        assert opened.decode() == "the witness is safe ✓"
        entry = (await api.audit.entries())[-1]
        assert entry.action == "note.add" and entry.details["note_id"] == note["note_id"]


async def test_witness_message_and_custody_key(storage: Storage) -> None:
    """A follow-up sealed to the witness recipient is stored; the custody key comes as PEM."""
    witness = crypto.generate_identity()
    async with live_api(storage) as api:
        report_id = await sealed_report(
            storage, api.custody_key, [api.reviewer.recipient], witness=witness.recipient
        )
        _, report = await api.call("GET", f"/v1/reports/{report_id}", api.reviewer_token)
        target = crypto.parse_recipient(report["witness_recipient"])
        sealed = b"".join(crypto.seal_bytes(b"which street?", [target]))
        status, _ = await api.call("POST", f"/v1/reports/{report_id}/witness-messages",
                                   api.reviewer_token, data=sealed)
        assert status == 201
        [message] = await storage.triage.witness_messages(report_id)
        header, offset = crypto.split_header(message.sealed)
        assert crypto.open_bytes(header, message.sealed[offset:], [witness]) == b"which street?"
        status, pem = await api.call("GET", "/v1/custody-key", api.reviewer_token)
        assert status == 200 and pem.startswith(b"-----BEGIN PUBLIC KEY-----")


async def test_admin_rewraps_a_header_and_manages_credentials(storage: Storage) -> None:
    """An admin uploads a re-wrapped header (a stale one conflicts) and manages credentials."""
    newcomer = crypto.generate_identity()
    async with live_api(storage) as api:
        report_id = await sealed_report(storage, api.custody_key, [api.reviewer.recipient])
        _, report = await api.call("GET", f"/v1/reports/{report_id}", api.admin_token)
        old = base64.b64decode(report["items"][0]["header"])
        new = crypto.rewrap(old, [api.reviewer], [api.reviewer.recipient, newcomer.recipient])
        body = {
            "expected_old_sha256": hashlib.sha256(old).hexdigest(),
            "header": base64.b64encode(new).decode(),
            "recipient_key_ids": sorted(crypto.key_id(r) for r in
                                        (api.reviewer.recipient, newcomer.recipient)),
        }
        path = f"/v1/reports/{report_id}/items/0/header"
        assert (await api.call("PUT", path, api.reviewer_token, json=body))[0] == 403
        assert (await api.call("PUT", path, api.admin_token, json=body))[0] == 200
        status, refused = await api.call("PUT", path, api.admin_token, json=body)
        assert status == 409 and "re-wrapped it first" in refused["error"]
        _, header = await api.call("GET", path, api.reviewer_token)
        assert header == new
        with storage.blobs.open(report["items"][0]["item_id"]) as blob:
            payload = blob.read()
        assert hashlib.sha256(payload).hexdigest() == report["items"][0]["payload_sha256"]
        assert crypto.open_bytes(header, payload, [newcomer])
        status, made = await api.call("POST", "/v1/admin/credentials", api.admin_token,
                                      json={"name": "bo", "role": "reviewer"})
        assert status == 201 and made["token"].startswith("ik_")
        assert (await api.call("GET", "/v1/me", made["token"]))[1]["name"] == "bo"
        status, clash = await api.call("POST", "/v1/admin/credentials", api.admin_token,
                                       json={"name": "bo", "role": "admin"})
        assert status == 409 and "revoke it first" in clash["error"]
        status, bad = await api.call("POST", "/v1/admin/credentials", api.admin_token,
                                     json={"name": "x", "role": "root"})
        assert status == 400 and "role" in bad["error"]
        _, listed = await api.call("GET", "/v1/admin/credentials", api.admin_token)
        assert made["token"] not in json.dumps(listed)
        assert {c["name"] for c in listed["credentials"]} == {"ada", "rita", "bo"}
        _, recipients = await api.call("GET", "/v1/admin/recipients", api.admin_token)
        assert [r["name"] for r in recipients["recipients"]] == ["rita"]
        _, trail = await api.call("GET", "/v1/admin/audit?limit=10", api.admin_token)
        assert [(e["actor"], e["action"]) for e in trail["entries"]] == [
            ("ada", "item.rewrap"), ("ada", "credential.add")
        ]
        assert (await api.audit.verify()).ok


async def test_payload_route_handles_a_client_that_goes_away(storage: Storage) -> None:
    """A client that disconnects mid-stream leaves the server serving the next request."""
    async with live_api(storage) as api:
        report_id = await sealed_report(storage, api.custody_key, [api.reviewer.recipient],
                                        attachments=[os.urandom(2 * 1024 * 1024)])
        url = f"{api.url}/v1/reports/{report_id}/items/1/payload"
        headers = {"Authorization": f"Bearer {api.reviewer_token}"}
        async with aiohttp.ClientSession() as other:
            response = await other.get(url, headers=headers)
            await response.content.read(1000)
            response.close()
        assert (await api.call("GET", "/v1/me", api.reviewer_token))[0] == 200


async def test_oversized_numbers_and_bodies_get_clear_errors(storage: Storage) -> None:
    """A 5,000-digit integer is a 400, not a 500; a large note or question names its own limit."""
    witness = crypto.generate_identity()
    async with live_api(storage) as api:
        report_id = await sealed_report(
            storage, api.custody_key, [api.reviewer.recipient], witness=witness.recipient
        )
        base = f"/v1/reports/{report_id}"
        huge = b'{"status": ' + b"7" * 5000 + b"}"
        status, body = await api.call("PUT", f"{base}/status", api.reviewer_token, data=huge)
        assert status == 400 and "number" in body["error"], body
        for path, what in (("notes", "note"), ("witness-messages", "message for the witness")):
            status, body = await api.call("POST", f"{base}/{path}", api.reviewer_token,
                                          data=b"x" * (300 * 1024))
            assert status == 413, body
            assert body["error"] == f"the {what} is larger than 256 KiB (262144 bytes)", body
        assert await storage.audit.count() == 0


async def test_a_trailing_newline_is_not_a_valid_name_or_id(storage: Storage) -> None:
    """`$` would accept "bob\\n": assignees, report ids and credential names are full matches."""
    async with live_api(storage) as api:
        report_id = await sealed_report(storage, api.custody_key, [api.reviewer.recipient])
        status, body = await api.call("PUT", f"/v1/reports/{report_id}/assignee",
                                      api.reviewer_token, json={"assignee": "bob\n"})
        assert status == 400 and "assignee" in body["error"], body
        status, body = await api.call("GET", f"/v1/reports/{report_id}%0A", api.reviewer_token)
        assert status == 400 and "32 lowercase" in body["error"], body
        status, body = await api.call("POST", "/v1/admin/credentials", api.admin_token,
                                      json={"name": "bo\n", "role": "reviewer"})
        assert status == 400 and "credential name" in body["error"], body
        stored = await storage.reports.get(report_id)
        assert stored is not None and stored.summary.assignee is None
        assert await storage.audit.count() == 0
