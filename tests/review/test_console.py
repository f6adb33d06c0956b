"""The reviewer console over HTTP: who may use it, what it refuses, how it shows hostile content.

Reports here are real: sealed by the bot's own ReportSubmitter to a registered reviewer's key,
stored in a real database, read through LocalBackend. This module also holds the fixtures and
helpers the other test_console_*.py modules import.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import aiohttp
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, Conversation, Draft, MediaRef, load_questionnaire
from bot.core.draft import (
    Answer,
    ChoiceAnswer,
    DateAnswer,
    MediaAnswer,
    PlaceAnswer,
    TextAnswer,
)
from bot.i18n import translations
from bot.submission import Receipt, ReportSubmitter, fetch_from_memory
from cli.labels import reviewer_labels
from cli.main import main
from crypto.custody import custody_public_key
from review.audit import AuditTrail
from review.backend import ReviewBackend
from review.console import BindAddressError, Console
from review.local import LocalBackend
from review.recipients import add_reviewer
from storage import Storage
from storage.server_keys import ServerKeys, load_or_create_server_keys

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@dataclass
class Desk:
    """A running console for reviewer alice, over a real store with real sealed reports."""

    storage: Storage
    keys: ServerKeys
    alice: crypto.X25519Identity
    backend: LocalBackend
    console: Console

    @property
    def origin(self) -> str:
        return self.console.session.origin

    async def submit(self, what: str, files: Files = ()) -> Receipt:
        return await submit_report(self.storage, self.keys, what, files)


Files = tuple[tuple[MediaRef, bytes], ...]


async def submit_report(
    storage: Storage, keys: ServerKeys, what: str, files: Files = (), *,
    language: str = "en", answers: dict[str, Answer] | None = None,
) -> Receipt:
    """One report through the bot's own submitter, exactly as a finished conversation."""
    conversation = Conversation(load_questionnaire(DEFAULT_QUESTIONNAIRE), translations)
    draft = Draft(draft_id=secrets.token_hex(8), language=language, answers={
        "category": ChoiceAnswer("violence"),
        "what": TextAnswer(what),
        "when": DateAnswer(dt.date(2026, 5, 31)),
        "where": PlaceAnswer("Near the market"),
        "evidence": MediaAnswer(tuple(ref for ref, _data in files)),
        **(answers or {}),
    })
    bodies = {ref.handle: data for ref, data in files}

    fetch = fetch_from_memory(bodies)

    submitter = ReportSubmitter(storage, keys, conversation)
    return await submitter.submit(draft, submission_id=secrets.token_hex(8), fetch=fetch)


def png_bytes(width: int = 480, height: int = 300) -> bytes:
    """A small but real PNG: a calm scene, so the screenshot shows something recognisable."""
    image = Image.new("RGB", (width, height), (214, 228, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height * 2 // 3, width, height), fill=(150, 180, 140))
    draw.ellipse((width - 120, 30, width - 50, 100), fill=(245, 210, 120))
    draw.rectangle((80, 120, 220, height * 2 // 3), fill=(120, 110, 100))
    draw.polygon([(70, 120), (150, 70), (230, 120)], fill=(160, 80, 70))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def desk(storage: Storage, tmp_path: Path) -> AsyncIterator[Desk]:
    keys = load_or_create_server_keys(tmp_path / "server")
    alice = crypto.generate_identity()
    await add_reviewer(storage, "alice", str(alice.recipient))
    await add_reviewer(storage, "bob", str(crypto.generate_identity().recipient))
    backend = LocalBackend(
        storage, AuditTrail(storage.audit, keys.custody_key), "alice", custody_key=keys.custody_key
    )
    # Labels in English from the questionnaire, as `intake review console` gives them by default.
    labels = reviewer_labels(load_questionnaire(DEFAULT_QUESTIONNAIRE), "en")
    console = Console(
        backend, [alice], custody_public=custody_public_key(keys.custody_key), labels=labels
    )
    await console.start()
    try:
        yield Desk(storage, keys, alice, backend, console)
    finally:
        await console.stop()


@pytest.fixture
async def browser_less() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client; `unsafe` lets its cookie jar keep cookies for an IP address host."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        yield client


async def enter(client: aiohttp.ClientSession, desk: Desk) -> None:
    async with client.get(desk.console.url, allow_redirects=False) as response:
        assert response.status == 303


async def _form(client: aiohttp.ClientSession, desk: Desk, path: str) -> aiohttp.ClientResponse:
    return await client.get(desk.origin + path, allow_redirects=False)


async def test_every_request_without_the_secret_is_refused(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    """No cookie, a wrong key, a wrong cookie or a foreign Host header: 403 on every path."""
    receipt = await desk.submit("quiet text")
    paths = ["/", f"/reports/{receipt.report_id}", f"/reports/{receipt.report_id}/items/0",
             "/static/console.css", "/no-such-page", "/?key=" + "A" * 43]
    for path in paths:
        async with browser_less.get(desk.origin + path, allow_redirects=False) as response:
            assert response.status == 403, path
            assert "quiet text" not in await response.text()
            assert response.headers["X-Frame-Options"] == "DENY"
    forged = {desk.console.session.cookie_name: "A" * 43}
    async with browser_less.get(desk.origin + "/", cookies=forged) as response:
        assert response.status == 403
    await enter(browser_less, desk)
    async with browser_less.get(desk.origin + "/", headers={"Host": "evil.example:80"}) as response:
        assert response.status == 403, "a rebinding page's Host header must not be served"
    async with browser_less.post(desk.origin + f"/reports/{receipt.report_id}/status",
                                 data={"status": "closed"}, allow_redirects=False) as response:
        assert response.status == 403
    assert (await desk.backend.get_report(receipt.report_id)).summary.status == "new"


async def test_the_key_becomes_a_strict_cookie_and_leaves_the_url(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    """The printed URL sets an HttpOnly SameSite=Strict cookie and redirects to a clean URL."""
    url = desk.console.url
    assert url.startswith("http://127.0.0.1:") and "?key=" in url
    async with browser_less.get(url, allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/"
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    async with browser_less.get(desk.origin + "/") as response:
        assert response.status == 200
        headers = response.headers
        assert "script-src" not in headers["Content-Security-Policy"]
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"
        assert desk.console.session.secret not in await response.text()


async def test_posts_need_the_session_csrf_token(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    """With the cookie but without, or with a wrong, CSRF token or Origin, a POST is a 403."""
    receipt = await desk.submit("text")
    await enter(browser_less, desk)
    action = f"{desk.origin}/reports/{receipt.report_id}/status"
    token = desk.console.session.csrf_token
    attempts = [
        ({"status": "closed"}, {}),
        ({"status": "closed", "csrf": ""}, {}),
        ({"status": "closed", "csrf": "0" * len(token)}, {}),
        ({"status": "closed", "csrf": Console.__name__}, {}),
        ({"status": "closed", "csrf": token}, {"Origin": "http://127.0.0.1:1"}),
    ]
    for data, headers in attempts:
        async with browser_less.post(action, data=data, headers=headers,
                                     allow_redirects=False) as response:
            assert response.status == 403, (data, headers)
    assert (await desk.backend.get_report(receipt.report_id)).summary.status == "new"
    async with browser_less.post(action, data={"status": "closed", "csrf": token},
                                 headers={"Origin": desk.origin},
                                 allow_redirects=False) as response:
        assert response.status == 303
    assert (await desk.backend.get_report(receipt.report_id)).summary.status == "closed"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "::1", "localhost", "192.168.1.20", ""])
def test_binding_anywhere_but_loopback_is_refused(host: str) -> None:
    """The console refuses every bind address other than 127.0.0.1, before listening."""
    with pytest.raises(BindAddressError, match=r"only listens on 127\.0\.0\.1"):
        Console(cast(ReviewBackend, object()), [], host=host)


def test_the_command_refuses_other_addresses_before_asking_for_a_passphrase(
    tmp_path: Path
) -> None:
    """`intake review console --host 0.0.0.0` stops at once, naming the rule."""
    identity = tmp_path / "key.txt"
    identity.write_text(str(crypto.generate_identity()) + "\n")
    result = CliRunner().invoke(
        main, ["review", "console", "-i", str(identity), "--host", "0.0.0.0"],
        env={"INTAKE_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.exit_code != 0
    assert "only listens on 127.0.0.1" in result.output
    assert "Passphrase" not in result.output


async def test_hostile_answers_and_file_names_are_shown_as_text(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    """A <script> in an answer, a caption, a file name or a note is escaped, never markup."""
    document = MediaRef("document", "h1", 20, f'{HOSTILE}".html', "text/html", HOSTILE)
    receipt = await desk.submit(HOSTILE, ((document, b"<script>alert(3)</script>"),))
    await enter(browser_less, desk)
    page = f"{desk.origin}/reports/{receipt.report_id}"
    async with browser_less.post(page + "/notes", data={
        "text": HOSTILE, "csrf": desk.console.session.csrf_token,
    }) as response:
        html = await response.text()
    assert response.status == 200 and "Note sealed" in html
    assert "<script>" not in html and "<img src=x" not in html
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
    assert html.count(escaped) >= 3  # the answer, the caption and the note
    async with browser_less.get(desk.origin + "/") as response:
        queue = await response.text()
    assert "<script>" not in queue and "&lt;script&gt;" in queue
    # The uploaded "HTML" is only ever a download, sandboxed, whatever type it claims.
    async with browser_less.get(page + "/items/1") as response:
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        disposition = response.headers["Content-Disposition"]
    # Our own plain ASCII name, then the witness's name percent-encoded: nothing to break out.
    assert re.fullmatch(
        r'attachment; filename="report-[0-9a-f]{8}-item-01\.html"; '
        r"filename\*=UTF-8''[A-Za-z0-9%._~-]+", disposition
    ), disposition


async def test_the_key_redirect_never_leaves_the_console(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    """`//elsewhere?key=...` redirects to a path on the console, not to another site."""
    secret = desk.console.session.secret
    url = f"{desk.origin}//evil.example/x?key={secret}&status=new"
    async with browser_less.get(url, allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/evil.example/x?status=new"
