"""The reviewer API's endpoints: a thin HTTP adapter over LocalBackend.

Only ciphertext and allowlisted metadata cross this boundary. Sealed items, notes and messages
are opaque age files; the server checks that they parse as age and fit the size limits, and
never holds a key that opens them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from typing import Any

from aiohttp import web

from review.api.app import Route, context, credential
from review.api.credentials import create_credential, parse_role, revoke_credential
from review.api.custody_routes import CUSTODY_ROUTES
from review.api.header_routes import HEADER_ROUTES
from review.api.wire import (
    b64,
    credential_json,
    day_query,
    done,
    flag_query,
    int_query,
    item_seq,
    json_object,
    recipient_json,
    report_json,
    sealed_body,
    string_field,
    summary_json,
)
from review.audit import decode_entry
from review.backend import QueueFilter
from review.local import AccessDeniedError, InvalidRequestError
from storage import Role

PREFIX = "/v1"
_CHUNK = 256 * 1024
_AUDIT_PAGE = 1000


# --- reviewer endpoints --------------------------------------------------------------------


async def me(request: web.Request) -> web.Response:
    who = credential(request)
    found: dict[str, Any] = {"name": who.name, "role": who.role.value}
    if who.channel is not None:
        # Absent for a credential of every channel, as before channels existed.
        found["channel"] = who.channel
    return web.json_response(found)


async def list_reports(request: web.Request) -> web.Response:
    """A keyset page after `cursor` (answering `next_cursor`), or with `page` a numbered one."""
    day = day_query(request)
    filters = QueueFilter(
        status=request.query.get("status"),
        priority=request.query.get("priority"),
        assignee=request.query.get("assignee"),
        label=request.query.get("label"),
        received_day=day,
    )
    page_size = int_query(request, "page_size", 50)
    backend = context(request).backend(request)
    if "page" in request.query and "cursor" not in request.query:
        page = int_query(request, "page", 1)
        found = await backend.list_reports(filters, page=page, page_size=page_size)
        return web.json_response({
            "reports": [summary_json(s) for s in found], "page": page, "page_size": page_size
        })
    with_total = flag_query(request, "total")
    result = await backend.queue_page(
        filters, cursor=request.query.get("cursor"), page_size=page_size, with_total=with_total
    )
    body: dict[str, Any] = {
        "reports": [summary_json(s) for s in result.reports],
        "page_size": page_size,
        "next_cursor": result.next_cursor,
    }
    if with_total:
        body["total"] = result.total
    return web.json_response(body)


async def report_ids(request: web.Request) -> web.Response:
    """Ids starting with `prefix` (at most four): `review show abcd` without walking the queue."""
    found = await context(request).backend(request).report_ids_with_prefix(
        request.query.get("prefix", "")
    )
    return web.json_response({"report_ids": found})


async def get_report(request: web.Request) -> web.Response:
    report = await context(request).backend(request).get_report(request.match_info["report_id"])
    return web.json_response(report_json(report))


async def get_header(request: web.Request) -> web.Response:
    item = await context(request).backend(request).item(
        request.match_info["report_id"], item_seq(request)
    )
    return web.Response(body=item.header, content_type="application/octet-stream")


async def get_payload(request: web.Request) -> web.StreamResponse:
    """Stream the payload blob in chunks: attachments can be large, memory stays flat."""
    _item, handle = await context(request).backend(request).open_payload(
        request.match_info["report_id"], item_seq(request)
    )
    try:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = os.fstat(handle.fileno()).st_size
        await response.prepare(request)
        try:
            while chunk := await asyncio.to_thread(handle.read, _CHUNK):
                await response.write(chunk)
            await response.write_eof()
        except ConnectionResetError:
            # The client went away mid-download: nothing to answer, nothing to log.
            pass
        return response
    finally:
        handle.close()


async def set_status(request: web.Request) -> web.Response:
    body = await json_object(request)
    await context(request).backend(request).set_status(
        request.match_info["report_id"], string_field(body, "status")
    )
    return done()


async def set_priority(request: web.Request) -> web.Response:
    body = await json_object(request)
    await context(request).backend(request).set_priority(
        request.match_info["report_id"], string_field(body, "priority")
    )
    return done()


async def set_assignee(request: web.Request) -> web.Response:
    body = await json_object(request)
    await context(request).backend(request).assign(
        request.match_info["report_id"], string_field(body, "assignee", nullable=True)
    )
    return done()


async def add_label(request: web.Request) -> web.Response:
    await context(request).backend(request).add_label(
        request.match_info["report_id"], request.match_info["label"]
    )
    return done()


async def remove_label(request: web.Request) -> web.Response:
    await context(request).backend(request).remove_label(
        request.match_info["report_id"], request.match_info["label"]
    )
    return done()


async def list_notes(request: web.Request) -> web.Response:
    notes = await context(request).backend(request).notes(request.match_info["report_id"])
    return web.json_response({"notes": [
        {
            "note_id": n.note_id,
            "author": n.author,
            "created_on": n.created_on.isoformat(),
            "sealed": b64(n.sealed),
        }
        for n in notes
    ]})


async def add_note(request: web.Request) -> web.Response:
    sealed = await sealed_body(request, "note")
    note = await context(request).backend(request).add_note(
        request.match_info["report_id"], sealed
    )
    return web.json_response(
        {"note_id": note.note_id, "author": note.author, "created_on": note.created_on.isoformat()},
        status=201,
    )


async def add_witness_message(request: web.Request) -> web.Response:
    sealed = await sealed_body(request, "message for the witness")
    await context(request).backend(request).leave_witness_message(
        request.match_info["report_id"], sealed
    )
    return web.json_response({"ok": True}, status=201)


async def list_witness_messages(request: web.Request) -> web.Response:
    found = await context(request).backend(request).witness_messages(
        request.match_info["report_id"]
    )
    return web.json_response({"messages": [
        {"message_id": m.message_id, "created_on": m.created_on.isoformat(),
         "sealed": b64(m.sealed)}
        for m in found
    ]})


async def replace_header(request: web.Request) -> web.Response:
    body = await json_object(request)
    key_ids = body.get("recipient_key_ids")
    if not isinstance(key_ids, list) or not all(isinstance(k, str) for k in key_ids):
        raise InvalidRequestError("'recipient_key_ids' must be a list of key id strings")
    try:
        header = base64.b64decode(string_field(body, "header"), validate=True)
    except binascii.Error:
        raise InvalidRequestError("'header' must be base64") from None
    await context(request).backend(request).replace_header(
        request.match_info["report_id"], item_seq(request),
        string_field(body, "expected_old_sha256"), header, tuple(key_ids),
    )
    return done()


async def active_recipients(request: web.Request) -> web.Response:
    found = await context(request).backend(request).recipients()
    return web.json_response({"recipients": [recipient_json(r) for r in found]})


async def custody_key(request: web.Request) -> web.Response:
    pem = await context(request).backend(request).custody_public_pem()
    return web.Response(body=pem, content_type="application/x-pem-file")


# --- admin endpoints -----------------------------------------------------------------------


async def list_credentials(request: web.Request) -> web.Response:
    # A channel's admin sees and manages its own channel's credentials only.
    found = await context(request).storage.credentials.registered(
        channel=credential(request).channel
    )
    return web.json_response({"credentials": [credential_json(c) for c in found]})


async def add_credential(request: web.Request) -> web.Response:
    body = await json_object(request)
    ctx = context(request)
    who = credential(request)
    channel = body.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise InvalidRequestError("'channel' must be a channel's slug or null")
    if who.channel is not None:
        if channel not in (None, who.channel):
            raise AccessDeniedError(
                "an admin of one channel makes credentials of that channel only"
            )
        channel = who.channel
    record, token = await create_credential(
        ctx.storage, ctx.audit, who.name, string_field(body, "name"),
        parse_role(string_field(body, "role")), channel,
    )
    return web.json_response({**credential_json(record), "token": token}, status=201)


async def revoke(request: web.Request) -> web.Response:
    ctx = context(request)
    who = credential(request)
    record = await revoke_credential(
        ctx.storage, ctx.audit, who.name, request.match_info["name"], channel=who.channel
    )
    return web.json_response(credential_json(record))


async def all_recipients(request: web.Request) -> web.Response:
    found = await context(request).storage.recipients.registered(
        channel=credential(request).channel
    )
    return web.json_response({"recipients": [recipient_json(r) for r in found]})


async def audit_trail(request: web.Request) -> web.Response:
    if credential(request).channel is not None:
        # The trail is one hash chain over every channel's actions; it is not split by channel.
        raise AccessDeniedError(
            "the audit trail covers every channel: it needs an admin credential of no channel"
        )
    after = int_query(request, "after", 0)
    limit = min(int_query(request, "limit", _AUDIT_PAGE), _AUDIT_PAGE)
    records = await context(request).storage.audit.entries(after=after, limit=limit)
    return web.json_response({"entries": [
        {**decode_entry(r.entry).__dict__, "entry_hash": r.entry_hash} for r in records
    ]})


_REPORT = PREFIX + "/reports/{report_id}"
_ITEM = _REPORT + "/items/{seq}"
REVIEWER, ADMIN = Role.REVIEWER, Role.ADMIN

ROUTES: list[Route] = [
    Route("GET", PREFIX + "/me", me, REVIEWER),
    Route("GET", PREFIX + "/reports", list_reports, REVIEWER),
    Route("GET", PREFIX + "/report-ids", report_ids, REVIEWER),
    Route("GET", _REPORT, get_report, REVIEWER),
    Route("GET", _ITEM + "/header", get_header, REVIEWER),
    Route("GET", _ITEM + "/payload", get_payload, REVIEWER),
    Route("PUT", _REPORT + "/status", set_status, REVIEWER),
    Route("PUT", _REPORT + "/priority", set_priority, REVIEWER),
    Route("PUT", _REPORT + "/assignee", set_assignee, REVIEWER),
    Route("PUT", _REPORT + "/labels/{label}", add_label, REVIEWER),
    Route("DELETE", _REPORT + "/labels/{label}", remove_label, REVIEWER),
    Route("GET", _REPORT + "/notes", list_notes, REVIEWER),
    Route("POST", _REPORT + "/notes", add_note, REVIEWER),
    Route("GET", _REPORT + "/witness-messages", list_witness_messages, REVIEWER),
    Route("POST", _REPORT + "/witness-messages", add_witness_message, REVIEWER),
    Route("GET", PREFIX + "/recipients", active_recipients, REVIEWER),
    Route("GET", PREFIX + "/custody-key", custody_key, REVIEWER),
    # Re-wrapping decides who can read a report: only administrators may upload headers, of
    # the report's own channel; the old header is kept and can be put back (HEADER_ROUTES).
    Route("PUT", _ITEM + "/header", replace_header, ADMIN),
    *HEADER_ROUTES,
    Route("GET", PREFIX + "/admin/credentials", list_credentials, ADMIN),
    Route("POST", PREFIX + "/admin/credentials", add_credential, ADMIN),
    Route("DELETE", PREFIX + "/admin/credentials/{name}", revoke, ADMIN),
    Route("GET", PREFIX + "/admin/recipients", all_recipients, ADMIN),
    Route("GET", PREFIX + "/admin/audit", audit_trail, ADMIN),
    *CUSTODY_ROUTES,
]

