"""The reviewer API's wire format: reading request bodies and queries, shaping JSON answers.

Every refusal is an InvalidRequestError (400) or BodyTooLargeError (413) naming the rule, so
the route handlers in routes.py stay thin.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from typing import Any

from aiohttp import web

from review.local import MAX_SEALED_TEXT_BYTES, BodyTooLargeError, InvalidRequestError
from storage import RecipientRecord, ReportSummary, StoredReport
from storage.credentials import CredentialRecord

_SEQ = re.compile(r"\d{1,6}")


# --- parsing requests ----------------------------------------------------------------------


async def json_object(request: web.Request, *, max_bytes: int | None = None) -> dict[str, Any]:
    """The request's body as a JSON object; any other body is a 400 saying why."""
    raw = await request.read()  # the whole body: content.read(n) returns what has arrived
    if max_bytes is not None and len(raw) > max_bytes:
        raise InvalidRequestError(f"the body is larger than {max_bytes} bytes")
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


def string_field(body: dict[str, Any], name: str, *, nullable: bool = False) -> Any:
    if name not in body:
        raise InvalidRequestError(f"the JSON body needs the field {name!r}")
    value = body[name]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(f"{name!r} must be a string" + (" or null" if nullable else ""))
    return value


def item_seq(request: web.Request) -> int:
    text = request.match_info["seq"]
    if not _SEQ.fullmatch(text):
        raise InvalidRequestError("an item sequence number is a small whole number")
    return int(text)


def int_query(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"\d{1,9}", text):
        raise InvalidRequestError(f"{name} must be a whole number")
    return int(text)


def flag_query(request: web.Request, name: str) -> bool:
    text = request.query.get(name, "false")
    if text not in ("true", "false"):
        raise InvalidRequestError(f"{name} must be true or false")
    return text == "true"


def day_query(request: web.Request) -> dt.date | None:
    text = request.query.get("received_day")
    if text is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise InvalidRequestError("received_day must be a date, YYYY-MM-DD")


async def sealed_body(request: web.Request, what: str) -> bytes:
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


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def report_json(r: StoredReport) -> dict[str, Any]:
    return {
        "summary": summary_json(r.summary),
        "manifest": b64(r.manifest),
        "manifest_signature": b64(r.manifest_signature),
        "witness_recipient": r.witness_recipient,
        "items": [
            {
                "item_id": i.item_id,
                "seq": i.seq,
                "role": i.role.value,
                "header": b64(i.header),
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


def done() -> web.Response:
    return web.json_response({"ok": True})
