"""A live reviewer API on a loopback port over a real Storage, with an admin and a reviewer."""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

import crypto
from review.api import create_app, running_api
from review.audit import AuditTrail
from storage import Role, Storage

DAY = dt.date(2026, 11, 24)


@dataclass
class LiveApi:
    url: str
    storage: Storage
    audit: AuditTrail
    custody_key: bytes
    admin_token: str
    reviewer_token: str
    reviewer: crypto.X25519Identity
    http: aiohttp.ClientSession

    async def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        """One request; the status and the decoded JSON body (or raw bytes if not JSON)."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.url + path, headers=headers, **kwargs) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.read()


@contextlib.asynccontextmanager
async def live_api(storage: Storage) -> AsyncIterator[LiveApi]:
    custody_key = secrets.token_bytes(32)
    audit = AuditTrail(storage.audit, custody_key)
    reviewer = crypto.generate_identity()
    await storage.recipients.add(
        "rita", str(reviewer.recipient), crypto.key_id(reviewer.recipient), DAY
    )
    admin_token, reviewer_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await storage.credentials.add("ada", Role.ADMIN, admin_token, DAY)
    await storage.credentials.add("rita", Role.REVIEWER, reviewer_token, DAY)
    async with (
        running_api(create_app(storage, audit, custody_key), "127.0.0.1", 0) as port,
        aiohttp.ClientSession() as http,
    ):
        yield LiveApi(
            f"http://127.0.0.1:{port}", storage, audit, custody_key, admin_token,
            reviewer_token, reviewer, http,
        )
