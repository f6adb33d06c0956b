"""The reviewer API's chain-of-custody endpoints (issue 10, item 2).

- POST /v1/reports/{id}/access: the reviewer's tool says it opened (decrypted), downloaded (as
  a decrypted file) or exported items, notes or messages; the server records it under the
  credential's name, never a name the client sends.
- POST /v1/access: many items decrypted at once (the console's monitoring of the whole queue).
- GET /v1/reports/{id}/custody: the report's chain of custody, as signed, for an export.
- POST /v1/reports/{id}/transfers: an exported bundle handed to someone (to whom, its hash).

The payload download route records `access.downloaded` itself (review/local_reading.py).
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from review.api.app import Route, context
from review.api.wire import json_object
from review.custody.access import Access
from review.local import InvalidRequestError
from storage import Role

# 500 [report id, seq] pairs take about 22 KiB.
_MAX_BODY = 64 * 1024


async def _body(request: web.Request) -> dict[str, Any]:
    return await json_object(request, max_bytes=_MAX_BODY)


async def record_access(request: web.Request) -> web.Response:
    body = await _body(request)
    what, via = body.get("what"), body.get("via", "cli")
    disclosure = body.get("disclosure")
    lists: dict[str, Any] = {k: body.get(k, []) for k in ("items", "notes", "messages")}
    if not isinstance(what, str) or not isinstance(via, str) or not all(
        isinstance(v, list) for v in lists.values()
    ) or not isinstance(disclosure, str | None):
        raise InvalidRequestError(
            "the body is {\"what\": \"opened\"|\"downloaded\"|\"exported\", \"items\": [seq], "
            "\"notes\": [id], \"messages\": [id], \"via\": \"cli\"|\"console\", "
            "\"disclosure\": \"age1...\" (an export's)}"
        )
    if via == "api":
        raise InvalidRequestError("via \"api\" is what the server records itself")
    await context(request).backend(request).record_access(Access(
        request.match_info["report_id"], what, items=lists["items"], notes=lists["notes"],
        messages=lists["messages"], via=via, disclosure=disclosure,
    ))
    return web.json_response({"ok": True}, status=201)


async def record_bulk_access(request: web.Request) -> web.Response:
    """Many items decrypted at once (a console's monitoring): [[report id, seq], ...]."""
    body = await _body(request)
    items, via = body.get("items"), body.get("via", "console")
    if not isinstance(via, str) or not isinstance(items, list) or not all(
        isinstance(i, list) and len(i) == 2 and isinstance(i[0], str) and isinstance(i[1], int)
        and not isinstance(i[1], bool) and 0 <= i[1] < 10**6
        for i in items
    ):
        raise InvalidRequestError(
            "the body is {\"items\": [[report id, seq], ...], \"via\": \"cli\"|\"console\"}"
        )
    if via == "api":
        raise InvalidRequestError("via \"api\" is what the server records itself")
    await context(request).backend(request).record_bulk_access(
        [(r, s) for r, s in items], via=via
    )
    return web.json_response({"ok": True}, status=201)


async def custody_records(request: web.Request) -> web.Response:
    """The report's own chain of custody (`chain`) and the audit entries from before it
    (`entries`), as signed, for an export."""
    found = await context(request).backend(request).custody_chain(
        request.match_info["report_id"]
    )
    return web.json_response({
        "entries": [
            {
                "seq": r.seq,
                "entry": r.entry.decode("ascii"),
                "entry_hash": r.entry_hash,
                "signature": base64.b64encode(r.signature).decode("ascii"),
            }
            for r in found.legacy
        ],
        "chain": [
            {
                "n": c.n,
                "entry": c.entry.decode("ascii"),
                "entry_hash": c.entry_hash,
                "signature": base64.b64encode(c.signature).decode("ascii"),
            }
            for c in found.entries
        ],
    })


async def record_transfer(request: web.Request) -> web.Response:
    """An exported bundle handed to someone: {"to": free text, "bundle_sha256": hex}; recorded
    under the credential's name."""
    body = await _body(request)
    to, bundle = body.get("to"), body.get("bundle_sha256")
    if not isinstance(to, str) or not isinstance(bundle, str):
        raise InvalidRequestError(
            "the body is {\"to\": \"to whom\", \"bundle_sha256\": \"SHA-256 of SHA256SUMS\"}"
        )
    await context(request).backend(request).record_transfer(
        request.match_info["report_id"], to, bundle
    )
    return web.json_response({"ok": True}, status=201)


_REPORT = "/v1/reports/{report_id}"

CUSTODY_ROUTES: list[Route] = [
    Route("POST", _REPORT + "/access", record_access, Role.REVIEWER),
    Route("GET", _REPORT + "/custody", custody_records, Role.REVIEWER),
    Route("POST", _REPORT + "/transfers", record_transfer, Role.REVIEWER),
    Route("POST", "/v1/access", record_bulk_access, Role.REVIEWER),
]
