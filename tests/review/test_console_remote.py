"""The console over the reviewer API (RemoteBackend): same pages, decryption still local."""

from __future__ import annotations

import io
import json
import secrets

import aiohttp

import crypto
from bot.core import MediaRef
from crypto.custody import custody_public_key
from review.console import Console
from review.remote import RemoteBackend
from storage import Storage
from storage.server_keys import ServerKeys
from tests.review.api_support import live_api
from tests.review.test_console import png_bytes, submit_report


async def test_the_console_works_against_the_reviewer_api(storage: Storage) -> None:
    """Through the API: the queue, a report and its image, a status and a sealed note; the
    server records both under the token's reviewer and never sees the note's text."""
    async with live_api(storage) as api:
        keys = ServerKeys(hash_key=secrets.token_bytes(32), custody_key=api.custody_key)
        png = png_bytes()
        photo = MediaRef("document", "p", len(png), "scene.png", "image/png")
        report_id = (await submit_report(storage, keys, "seen from the window",
                                         ((photo, png),))).report_id
        async with RemoteBackend(api.url, api.reviewer_token) as remote:
            console = Console(
                remote, [api.reviewer], custody_public=custody_public_key(api.custody_key)
            )
            await console.start()
            jar = aiohttp.CookieJar(unsafe=True)
            try:
                async with aiohttp.ClientSession(cookie_jar=jar) as client:
                    async with client.get(console.url) as response:
                        assert "seen from the window" in await response.text()
                    page = f"{console.session.origin}/reports/{report_id}"
                    async with client.get(page) as response:
                        html = await response.text()
                    assert "Custody signature: valid" in html and "as <strong>rita" in html
                    async with client.get(page + "/items/1") as response:
                        assert await response.read() == png
                    token = console.session.csrf_token
                    for path, data in (("/status", {"status": "triaged"}),
                                       ("/notes", {"text": "checked with the map"})):
                        async with client.post(page + path, data={**data, "csrf": token},
                                               allow_redirects=False) as response:
                            assert response.status == 303, path
            finally:
                await console.stop()
        stored = await storage.reports.get(report_id)
        assert stored is not None and stored.summary.status == "triaged"
        (note,) = await storage.triage.notes(report_id)
        assert note.author == "rita" and b"checked with the map" not in note.sealed
        opened = io.BytesIO()
        crypto.decrypt(io.BytesIO(note.sealed), opened, [api.reviewer])
        assert opened.getvalue() == b"checked with the map"
        actors = {json.loads(row.entry)["actor"] for row in await storage.audit.entries()
                  if json.loads(row.entry)["report_id"] == report_id}
        assert actors == {"rita"}
