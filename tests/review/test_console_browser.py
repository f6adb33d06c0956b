"""The console in a real browser: Debian's Chromium, headless, driven by Playwright.

No browser is downloaded: Playwright's Python wheel brings its driver, and the browser is the
system's /usr/bin/chromium (`apt-get install chromium`; `.ci/run` installs it). The test saves
screenshots of the report page, at laptop and phone sizes, under test-artifacts/.
"""

# Test functions take the fixtures imported from test_console.py as arguments by name.
# ruff: noqa: F811

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from bot.core import MediaRef
from bot.followup import FollowUpService
from crypto import decrypt
from review.tools import ask_witness

# `desk` is the fixture of the non-browser tests, shared by importing it.
from tests.review.test_console import Desk, desk, png_bytes, submit_report  # noqa: F401
from tests.review.test_reviewer_language import SPANISH
from tests.support import skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
WHAT = (
    "Three men in dark uniforms stopped the minibus at the market crossing around 9 in the "
    "morning and took two passengers away in a grey van without plates.\n\nOne of them "
    "shouted at the driver to leave."
)
NOTE = "Matches the photo: van visible behind the stall. Ask about the time — עברית"


def _playwright() -> Any:
    if not CHROMIUM.exists():
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium): browser "
                     "test skipped")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed (pip install -e '.[test]'): "
                     "browser test skipped")
    return async_playwright


async def test_reviewer_filters_opens_sees_image_sets_status_and_writes_a_note(
    desk: Desk,
) -> None:
    """The issue's Must-show, end to end in Chromium, then checked in the store and by the key."""
    async_playwright = _playwright()
    from playwright.async_api import expect

    png = png_bytes()
    photo = MediaRef("document", "img", len(png), "market-crossing.png", "image/png",
                     "From the bus stop, looking north")
    report_id = (await desk.submit(WHAT, ((photo, png),))).report_id
    older = (await desk.submit("An older report, already dealt with.")).report_id
    await desk.backend.set_status(older, "closed")
    ARTIFACTS.mkdir(exist_ok=True)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            laptop = await browser.new_context(viewport=LAPTOP)
            page = await laptop.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))

            await page.goto(desk.console.url)
            assert "key=" not in page.url, "the secret must leave the address bar at once"
            cards = page.locator(".report-card")
            await expect(cards).to_have_count(2)

            await page.select_option("form.filters select[name=status]", "new")
            await page.get_by_role("button", name="Filter").click()
            await expect(cards).to_have_count(1)
            await expect(cards.first).to_contain_text("Three men in dark uniforms")
            await cards.first.click()
            await expect(page.locator("h1")).to_contain_text(report_id[:8])

            image = page.locator("figure.attachment img")
            await expect(image).to_be_visible()
            await image.evaluate("img => img.decode()")
            assert await image.evaluate("img => img.naturalWidth") == 480
            await expect(page.locator("figure.attachment")).to_contain_text("market-crossing.png")

            await page.select_option("#status select[name=status]", "in_progress")
            await page.get_by_role("button", name="Set status").click()
            await expect(page.locator(".notice.ok")).to_contain_text("Status saved")
            await expect(page.locator(".meta .badge").first).to_have_text("In progress")

            await page.fill("#note-text", NOTE)
            await page.get_by_role("button", name="Seal and save note").click()
            await expect(page.locator(".notice.ok")).to_contain_text("Note sealed")
            await expect(page.locator(".note-text")).to_have_text(NOTE)
            await page.evaluate("window.scrollTo(0, 0)")
            await page.screenshot(path=str(ARTIFACTS / "console-report.png"), full_page=True)
            assert not problems, problems  # a CSP violation or a broken resource shows here

            phone = await browser.new_context(
                viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
            )
            small = await phone.new_page()
            await small.goto(desk.console.url)
            await small.goto(f"{desk.console.session.origin}/reports/{report_id}")
            await expect(small.locator("figure.attachment img")).to_be_visible()
            # Nothing wider than the phone: no sideways scrolling to reach a button.
            assert await small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            heights = await small.locator("main button").evaluate_all(
                "buttons => buttons.map(b => b.getBoundingClientRect().height)"
            )
            assert heights and min(heights) >= 36, heights
            await small.screenshot(
                path=str(ARTIFACTS / "console-report-phone.png"), full_page=True
            )
            await small.goto(f"{desk.console.session.origin}/")
            await small.screenshot(path=str(ARTIFACTS / "console-queue-phone.png"))
        finally:
            await browser.close()

    assert (await desk.backend.get_report(report_id)).summary.status == "in_progress"
    (note,) = await desk.backend.notes(report_id)
    assert note.author == "alice"
    opened = io.BytesIO()
    decrypt(io.BytesIO(note.sealed), opened, [desk.alice])
    assert opened.getvalue().decode() == NOTE
    assert (ARTIFACTS / "console-report.png").stat().st_size > 10_000


async def test_a_spanish_report_and_its_follow_up_read_in_english(desk: Desk) -> None:
    """Labels in the reviewer's language, no codes, and the question above the reply."""
    async_playwright = _playwright()
    from playwright.async_api import expect

    receipt = await submit_report(desk.storage, desk.keys, "el coche azul", language="es",
                                  answers=SPANISH)
    await ask_witness(desk.backend, receipt.report_id, "¿En qué calle fue?")

    async def no_files(_ref: MediaRef) -> bytes:
        raise AssertionError("no files in this reply")

    await FollowUpService(desk.storage, desk.keys).add(
        receipt.report_id, ["En la calle del mercado."], [], no_files,
        submission_key=b"k" * 32,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await (await browser.new_context(viewport=LAPTOP)).new_page()
            await page.goto(desk.console.url)
            await expect(page.locator(".report-card").first).to_contain_text(
                "Violence against people"
            )
            await page.goto(f"{desk.console.session.origin}/reports/{receipt.report_id}")
            answers = page.locator("#answers")
            for text in ("Type", "Violence against people", "Who was affected",
                         "Other people, A group or community", "Safe now",
                         "I prefer not to say", "el coche azul"):
                await expect(answers).to_contain_text(text)
            words = set((await answers.inner_text()).replace(",", " ").split())
            assert not words & {"violence", "others", "unsure", "Tipo", "Violencia"}, words
            await expect(page.locator(".meta")).to_contain_text("Witness's language Español (es)")
            entries = page.locator("#follow-up li")
            await expect(entries).to_have_count(2)
            await expect(entries.nth(0)).to_have_class("question")
            await expect(entries.nth(0)).to_contain_text("¿En qué calle fue?")
            await expect(entries.nth(1)).to_contain_text("En la calle del mercado.")
            await page.locator("#follow-up").screenshot(
                path=str(ARTIFACTS / "console-follow-up.png")
            )
        finally:
            await browser.close()
