"""The reviewer API's routes for an item's superseded headers (review/headers.py).

- GET  /v1/reports/{id}/items/{seq}/header/history: the headers the item had before, oldest
  first: version, SHA-256, the key ids each was wrapped to, and the header itself (base64).
- POST /v1/reports/{id}/items/{seq}/header/restore: {"expected_old_sha256": the current
  header's SHA-256, "version": n (optional; the last one replaced if absent)} puts that header
  back; the current one is kept in its turn.

Administrators only, and only of the report's own channel (or of no channel): to any other
credential the item answers as a missing one. PUT .../header (routes.py) replaces a header.
"""

from __future__ import annotations

import base64

from aiohttp import web

from review.api.app import Route, context
from review.api.wire import item_seq, json_object, string_field
from review.local import InvalidRequestError
from storage import Role
from storage.header_swaps import SupersededHeader

_ITEM = "/v1/reports/{report_id}/items/{seq}/header"


def _json(header: SupersededHeader) -> dict[str, object]:
    return {
        "version": header.version,
        "sha256": header.sha256,
        "recipient_key_ids": list(header.recipient_key_ids),
        "header": base64.b64encode(header.header).decode("ascii"),
    }


async def header_history(request: web.Request) -> web.Response:
    found = await context(request).backend(request).header_history(
        request.match_info["report_id"], item_seq(request)
    )
    return web.json_response({"headers": [_json(h) for h in found]})


async def restore_header(request: web.Request) -> web.Response:
    body = await json_object(request)
    version = body.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise InvalidRequestError("'version' must be a whole number, or absent for the last one")
    restored = await context(request).backend(request).restore_header(
        request.match_info["report_id"], item_seq(request),
        string_field(body, "expected_old_sha256"), version,
    )
    return web.json_response({"restored": _json(restored)})


HEADER_ROUTES: list[Route] = [
    Route("GET", _ITEM + "/history", header_history, Role.ADMIN),
    Route("POST", _ITEM + "/restore", restore_header, Role.ADMIN),
]
