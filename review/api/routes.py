"""The reviewer API's endpoints: a thin HTTP adapter over LocalBackend.

Only ciphertext and allowlisted metadata cross this boundary. Sealed items, notes and messages
are opaque age files; the server checks that they parse as age and fit the size limits, and
never holds a key that opens them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
import os
import re
from typing import Any

from aiohttp import web

from review.api.app import Route, context, credential
from review.api.credentials import create_credential, parse_role, revoke_credential
from review.api.custody_routes import CUSTODY_ROUTES
from review.audit import decode_entry
from review.backend import QueueFilter
from review.local import (
    MAX_SEALED_TEXT_BYTES,
    AccessDeniedError,
    BodyTooLargeError,
    InvalidRequestError,
)
from storage import RecipientRecord, ReportSummary, Role, StoredReport
from storage.credentials import CredentialRecord

PREFIX = "/v1"
_CHUNK = 256 * 1024
_SEQ = re.compile(r"\d{1,6}")
_AUDIT_PAGE = 1000


# --- parsing requests ----------------------------------------------------------------------


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidRequestError("the body is not valid JSON") from None
    except RecursionError:
        raise InvalidRequestError("the JSON body is nested too deeply") from None
    except ValueError:
        # Python refuses to convert integers of more than 4,300 digits (a denial-of-service
        # guard); no field of ours is a number that long.
        raise InvalidRequestError("the JSON body holds a number too long to read") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object")
    return body


def _field(body: dict[str, Any], name: str, *, nullable: bool = False) -> Any:
    if name not in body:
        raise InvalidRequestError(f"the JSON body needs the field {name!r}")
    value = body[name]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(f"{name!r} must be a string" + (" or null" if nullable else ""))
    return value


def _seq(request: web.Request) -> int:
    text = request.match_info["seq"]
    if not _SEQ.fullmatch(text):
        raise InvalidRequestError("an item sequence number is a small whole number")
    return int(text)


def _int_query(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"\d{1,9}", text):
        raise InvalidRequestError(f"{name} must be a whole number")
    return int(text)


def _flag_query(request: web.Request, name: str) -> bool:
    text = request.query.get(name, "false")
    if text not in ("true", "false"):
        raise InvalidRequestError(f"{name} must be true or false")
    return text == "true"


def _day_query(request: web.Request) -> dt.date | None:
    text = request.query.get("received_day")
    if text is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise InvalidRequestError("received_day must be a date, YYYY-MM-DD")


async def _sealed_body(request: web.Request, what: str) -> bytes:
    too_large = BodyTooLargeError(
        f"the {what} is larger than {MAX_SEALED_TEXT_BYTES // 1024} KiB "
        f"({MAX_SEALED_TEXT_BYTES} bytes)"
    )
    # Refuse by the declared length before reading anything; the read itself is capped too.
    if request.content_length is not None and request.content_length > MAX_SEALED_TEXT_BYTES:
        raise too_large
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    if len(body) > MAX_SEALED_TEXT_BYTES:
        raise too_large
    return body


# --- shaping responses ---------------------------------------------------------------------


def summary_json(s: ReportSummary) -> dict[str, Any]:
    return {
        "id": s.report_id,
        "received_day": s.received_day.isoformat(),
        "status": s.status,
        "priority": s.priority,
        "assignee": s.assignee,
        "item_count": s.item_count,
        "labels": list(s.labels),
        "channel": s.channel,
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def report_json(r: StoredReport) -> dict[str, Any]:
    return {
        "summary": summary_json(r.summary),
        "manifest": _b64(r.manifest),
        "manifest_signature": _b64(r.manifest_signature),
        "witness_recipient": r.witness_recipient,
        "items": [
            {
                "item_id": i.item_id,
                "seq": i.seq,
                "role": i.role.value,
                "header": _b64(i.header),
                "payload_size": i.payload_size,
                "payload_sha256": i.payload_sha256,
                "recipient_key_ids": list(i.recipient_key_ids),
                "parent_seq": i.parent_seq,
            }
            for i in r.items
        ],
    }


def recipient_json(r: RecipientRecord) -> dict[str, Any]:
    return {
        "name": r.name,
        "recipient": r.recipient,
        "key_id": r.key_id,
        "kind": r.kind.value,
        "added_on": r.added_on.isoformat(),
        "removed_on": None if r.removed_on is None else r.removed_on.isoformat(),
        "channel": r.channel,
    }


def credential_json(c: CredentialRecord) -> dict[str, Any]:
    return {
        "name": c.name,
        "role": c.role.value,
        "channel": c.channel,
        "created_on": c.created_on.isoformat(),
        "revoked_on": None if c.revoked_on is None else c.revoked_on.isoformat(),
    }


def _done() -> web.Response:
    return web.json_response({"ok": True})


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
    day = _day_query(request)
    filters = QueueFilter(
        status=request.query.get("status"),
        priority=request.query.get("priority"),
        assignee=request.query.get("assignee"),
        label=request.query.get("label"),
        received_day=day,
    )
    page_size = _int_query(request, "page_size", 50)
    backend = context(request).backend(request)
    if "page" in request.query and "cursor" not in request.query:
        page = _int_query(request, "page", 1)
        found = await backend.list_reports(filters, page=page, page_size=page_size)
        return web.json_response({
            "reports": [summary_json(s) for s in found], "page": page, "page_size": page_size
        })
    with_total = _flag_query(request, "total")
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
        request.match_info["report_id"], _seq(request)
    )
    return web.Response(body=item.header, content_type="application/octet-stream")


async def get_payload(request: web.Request) -> web.StreamResponse:
    """Stream the payload blob in chunks: attachments can be large, memory stays flat."""
    _item, handle = await context(request).backend(request).open_payload(
        request.match_info["report_id"], _seq(request)
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
    body = await _json_object(request)
    await context(request).backend(request).set_status(
        request.match_info["report_id"], _field(body, "status")
    )
    return _done()


async def set_priority(request: web.Request) -> web.Response:
    body = await _json_object(request)
    await context(request).backend(request).set_priority(
        request.match_info["report_id"], _field(body, "priority")
    )
    return _done()


async def set_assignee(request: web.Request) -> web.Response:
    body = await _json_object(request)
    await context(request).backend(request).assign(
        request.match_info["report_id"], _field(body, "assignee", nullable=True)
    )
    return _done()


async def add_label(request: web.Request) -> web.Response:
    await context(request).backend(request).add_label(
        request.match_info["report_id"], request.match_info["label"]
    )
    return _done()


async def remove_label(request: web.Request) -> web.Response:
    await context(request).backend(request).remove_label(
        request.match_info["report_id"], request.match_info["label"]
    )
    return _done()


async def list_notes(request: web.Request) -> web.Response:
    notes = await context(request).backend(request).notes(request.match_info["report_id"])
    return web.json_response({"notes": [
        {
            "note_id": n.note_id,
            "author": n.author,
            "created_on": n.created_on.isoformat(),
            "sealed": _b64(n.sealed),
        }
        for n in notes
    ]})


async def add_note(request: web.Request) -> web.Response:
    sealed = await _sealed_body(request, "note")
    note = await context(request).backend(request).add_note(
        request.match_info["report_id"], sealed
    )
    return web.json_response(
        {"note_id": note.note_id, "author": note.author, "created_on": note.created_on.isoformat()},
        status=201,
    )


async def add_witness_message(request: web.Request) -> web.Response:
    sealed = await _sealed_body(request, "message for the witness")
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
         "sealed": _b64(m.sealed)}
        for m in found
    ]})


async def replace_header(request: web.Request) -> web.Response:
    body = await _json_object(request)
    key_ids = body.get("recipient_key_ids")
    if not isinstance(key_ids, list) or not all(isinstance(k, str) for k in key_ids):
        raise InvalidRequestError("'recipient_key_ids' must be a list of key id strings")
    try:
        header = base64.b64decode(_field(body, "header"), validate=True)
    except binascii.Error:
        raise InvalidRequestError("'header' must be base64") from None
    await context(request).backend(request).replace_header(
        request.match_info["report_id"], _seq(request), _field(body, "expected_old_sha256"),
        header, tuple(key_ids),
    )
    return _done()


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
    body = await _json_object(request)
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
        ctx.storage, ctx.audit, who.name, _field(body, "name"),
        parse_role(_field(body, "role")), channel,
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
    after = _int_query(request, "after", 0)
    limit = min(_int_query(request, "limit", _AUDIT_PAGE), _AUDIT_PAGE)
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
    # Re-wrapping decides who can read a report: only administrators may upload headers.
    Route("PUT", _ITEM + "/header", replace_header, ADMIN),
    Route("GET", PREFIX + "/admin/credentials", list_credentials, ADMIN),
    Route("POST", PREFIX + "/admin/credentials", add_credential, ADMIN),
    Route("DELETE", PREFIX + "/admin/credentials/{name}", revoke, ADMIN),
    Route("GET", PREFIX + "/admin/recipients", all_recipients, ADMIN),
    Route("GET", PREFIX + "/admin/audit", audit_trail, ADMIN),
    *CUSTODY_ROUTES,
]

