"""ReviewBackend over the reviewer API (`intake review --server URL`).

Moves only what the API moves: ciphertext and allowlisted metadata. Decryption and sealing
happen in the caller, on the reviewer's machine. The API's JSON errors become the same
exceptions LocalBackend raises, so the CLI treats both backends alike.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import json
from collections.abc import Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from review.audit import report_ref
from review.backend import QueueFilter, SealedNote, SealedQuestion
from review.custody.access import BULK_CHUNK, Access
from review.custody.chain import CustodyChain
from review.local import (
    AccessDeniedError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ReviewError,
    check_report_id,
)
from storage import (
    DEFAULT_CHANNEL,
    ItemRole,
    QueuePage,
    RecipientKind,
    RecipientRecord,
    ReportSummary,
    StoredItem,
    StoredReport,
)
from storage.audit import AuditRecord, CustodyRecord

_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=30, sock_read=120)


def check_server_url(url: str) -> str:
    """The URL without a trailing slash; plain http only to this machine (tokens travel in it)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError("--server must be an https:// URL, such as https://intake.example")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InvalidRequestError(
            "--server must use https:// unless it is on this machine: the API sends bearer "
            "tokens and must sit behind a TLS reverse proxy"
        )
    return url.rstrip("/")


def _filter_query(filters: QueueFilter) -> dict[str, str]:
    query: dict[str, str] = {}
    for name in ("status", "priority", "assignee", "label"):
        value = getattr(filters, name)
        if value is not None:
            query[name] = value
    if filters.received_day is not None:
        query["received_day"] = filters.received_day.isoformat()
    return query


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RemoteBackend:
    """The ReviewBackend protocol over HTTP; `actor` is the credential's name on the server."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = check_server_url(base_url)
        self.actor = ""
        self._headers = {"Authorization": f"Bearer {token.strip()}"}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RemoteBackend:
        self._session = aiohttp.ClientSession(timeout=_TIMEOUT, headers=self._headers)
        try:
            me = await self._json("GET", "/v1/me")
        except BaseException:
            await self.close()
            raise
        self.actor = str(me["name"])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- HTTP ----------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, bytes, str]:
        if self._session is None:
            raise RuntimeError("use `async with RemoteBackend(...)`")
        try:
            async with self._session.request(method, self.base_url + path, **kwargs) as response:
                return response.status, await response.read(), response.content_type
        except aiohttp.ClientError as error:
            raise ReviewError(
                f"cannot reach the reviewer API at {self.base_url} ({type(error).__name__}): "
                "check the URL and your network"
            ) from None

    async def _call(self, method: str, path: str, **kwargs: Any) -> bytes:
        status, body, content_type = await self._request(method, path, **kwargs)
        if status < 400:
            return body
        message = f"the server answered {status}"
        if content_type == "application/json":
            with contextlib.suppress(ValueError, KeyError, TypeError):
                message = str(json.loads(body)["error"])
        raise _error_for(status, message)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        body = await self._call(method, path, **kwargs)
        try:
            return json.loads(body)
        except ValueError:
            raise ReviewError(
                "the server's answer is not JSON: is --server the reviewer API's address?"
            ) from None

    # --- the protocol --------------------------------------------------------------------

    async def list_reports(
        self, filters: QueueFilter, *, page: int = 1, page_size: int = 50
    ) -> list[ReportSummary]:
        query = _filter_query(filters)
        query.update({"page": str(page), "page_size": str(page_size)})
        found = await self._json("GET", "/v1/reports", params=query)
        return [_summary(s) for s in found["reports"]]

    async def queue_page(
        self,
        filters: QueueFilter,
        *,
        cursor: str | None = None,
        page_size: int = 50,
        with_total: bool = False,
    ) -> QueuePage:
        query = _filter_query(filters)
        query["page_size"] = str(page_size)
        if cursor is not None:
            query["cursor"] = cursor
        if with_total:
            query["total"] = "true"
        found = await self._json("GET", "/v1/reports", params=query)
        next_cursor = found.get("next_cursor")
        total = found.get("total")
        return QueuePage(
            [_summary(s) for s in found["reports"]],
            str(next_cursor) if next_cursor is not None else None,
            int(total) if total is not None else None,
        )

    async def report_ids_with_prefix(self, prefix: str) -> list[str]:
        found = await self._json("GET", "/v1/report-ids", params={"prefix": prefix})
        return [str(i) for i in found["report_ids"]]

    async def get_report(self, report_id: str) -> StoredReport:
        r = await self._json("GET", f"/v1/reports/{check_report_id(report_id)}")
        return StoredReport(
            summary=_summary(r["summary"]),
            manifest=base64.b64decode(r["manifest"]),
            manifest_signature=base64.b64decode(r["manifest_signature"]),
            witness_recipient=r["witness_recipient"],
            items=tuple(
                StoredItem(
                    item_id=i["item_id"],
                    seq=int(i["seq"]),
                    role=ItemRole(i["role"]),
                    header=base64.b64decode(i["header"]),
                    payload_size=int(i["payload_size"]),
                    payload_sha256=i["payload_sha256"],
                    recipient_key_ids=tuple(i["recipient_key_ids"]),
                    parent_seq=i["parent_seq"],
                )
                for i in r["items"]
            ),
        )

    async def read_payload(self, report_id: str, seq: int) -> bytes:
        return await self._call(
            "GET", f"/v1/reports/{check_report_id(report_id)}/items/{int(seq)}/payload"
        )

    async def set_status(self, report_id: str, status: str) -> None:
        await self._json("PUT", self._report(report_id, "/status"), json={"status": status})

    async def set_priority(self, report_id: str, priority: str) -> None:
        await self._json("PUT", self._report(report_id, "/priority"), json={"priority": priority})

    async def assign(self, report_id: str, assignee: str | None) -> None:
        await self._json("PUT", self._report(report_id, "/assignee"), json={"assignee": assignee})

    async def add_label(self, report_id: str, label: str) -> None:
        await self._json("PUT", self._report(report_id, "/labels/" + quote(label, safe="")))

    async def remove_label(self, report_id: str, label: str) -> None:
        await self._json("DELETE", self._report(report_id, "/labels/" + quote(label, safe="")))

    async def add_note(self, report_id: str, sealed: bytes) -> SealedNote:
        made = await self._json("POST", self._report(report_id, "/notes"), data=sealed,
                                headers={"Content-Type": "application/octet-stream"})
        return SealedNote(
            made["note_id"], report_id, made["author"], dt.date.fromisoformat(made["created_on"]),
            sealed,
        )

    async def notes(self, report_id: str) -> list[SealedNote]:
        found = await self._json("GET", self._report(report_id, "/notes"))
        return [
            SealedNote(
                n["note_id"], report_id, n["author"], dt.date.fromisoformat(n["created_on"]),
                base64.b64decode(n["sealed"]),
            )
            for n in found["notes"]
        ]

    async def leave_witness_message(self, report_id: str, sealed: bytes) -> None:
        await self._json("POST", self._report(report_id, "/witness-messages"), data=sealed,
                         headers={"Content-Type": "application/octet-stream"})

    async def witness_messages(self, report_id: str) -> list[SealedQuestion]:
        found = await self._json("GET", self._report(report_id, "/witness-messages"))
        return [
            SealedQuestion(
                m["message_id"], report_id, dt.date.fromisoformat(m["created_on"]),
                base64.b64decode(m["sealed"]),
            )
            for m in found["messages"]
        ]

    async def recipients(self) -> list[RecipientRecord]:
        found = await self._json("GET", "/v1/recipients")
        return [_recipient(r) for r in found["recipients"]]

    async def replace_header(
        self, report_id: str, seq: int, expected_old_sha256: str, new_header: bytes,
        recipient_key_ids: tuple[str, ...],
    ) -> None:
        await self._json("PUT", self._report(report_id, f"/items/{int(seq)}/header"), json={
            "expected_old_sha256": expected_old_sha256,
            "header": base64.b64encode(new_header).decode("ascii"),
            "recipient_key_ids": list(recipient_key_ids),
        })

    async def custody_public_pem(self) -> bytes:
        return await self._call("GET", "/v1/custody-key")

    async def record_access(self, access: Access) -> None:
        """Tell the server what was decrypted here; it records it under this credential."""
        await self._json("POST", self._report(access.report_id, "/access"), json={
            "what": access.what, "items": list(access.items), "notes": list(access.notes),
            "messages": list(access.messages), "via": access.via,
            **({} if access.disclosure is None else {"disclosure": access.disclosure}),
        })

    async def record_bulk_access(
        self, items: Sequence[tuple[str, int]], *, via: str = "console"
    ) -> None:
        """Tell the server which items were decrypted here, in chunks the server accepts."""
        listed = sorted({(check_report_id(r), int(s)) for r, s in items})
        for start in range(0, len(listed), BULK_CHUNK):
            await self._json("POST", "/v1/access", json={
                "items": [[r, s] for r, s in listed[start:start + BULK_CHUNK]], "via": via,
            })

    async def custody_chain(self, report_id: str) -> CustodyChain:
        found = await self._json("GET", self._report(report_id, "/custody"))
        return CustodyChain(
            [
                AuditRecord(
                    int(e["seq"]), e["entry"].encode("ascii"), e["entry_hash"],
                    base64.b64decode(e["signature"]),
                )
                for e in found["entries"]
            ],
            [
                CustodyRecord(
                    bytes.fromhex(report_ref(report_id)), int(c["n"]),
                    c["entry"].encode("ascii"), c["entry_hash"], base64.b64decode(c["signature"]),
                )
                for c in found.get("chain", [])
            ],
        )

    async def record_transfer(self, report_id: str, to: str, bundle_sha256: str) -> None:
        """Tell the server a bundle was handed to `to`; it records it under this credential."""
        await self._json("POST", self._report(report_id, "/transfers"), json={
            "to": to, "bundle_sha256": bundle_sha256,
        })

    def _report(self, report_id: str, tail: str) -> str:
        return f"/v1/reports/{check_report_id(report_id)}{tail}"


def _error_for(status: int, message: str) -> ReviewError:
    if status in (401, 403):
        return AccessDeniedError(message)
    if status == 404:
        return NotFoundError(message)
    if status == 409:
        return ConflictError(message)
    if status in (400, 413):
        return InvalidRequestError(message)
    return ReviewError(f"the server failed ({status}): {message}")


def _summary(s: dict[str, Any]) -> ReportSummary:
    return ReportSummary(
        report_id=s["id"],
        received_day=dt.date.fromisoformat(s["received_day"]),
        status=s["status"],
        priority=s["priority"],
        assignee=s["assignee"],
        item_count=int(s["item_count"]),
        labels=tuple(s["labels"]),
        channel=str(s.get("channel", DEFAULT_CHANNEL)),
    )


def _recipient(r: dict[str, Any]) -> RecipientRecord:
    return RecipientRecord(
        name=r["name"],
        recipient=r["recipient"],
        key_id=r["key_id"],
        added_on=dt.date.fromisoformat(r["added_on"]),
        removed_on=None if r["removed_on"] is None else dt.date.fromisoformat(r["removed_on"]),
        kind=RecipientKind(r["kind"]),
        channel=str(r.get("channel", DEFAULT_CHANNEL)),
    )
