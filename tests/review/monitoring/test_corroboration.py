"""Corroboration: the same photo, resized and recompressed, is found across reports."""

# Test functions take the fixtures imported from test_console.py as arguments by name.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from bot.core import MediaRef
from review.monitoring.collect import collect, item_opener
from review.monitoring.records import Record
from review.monitoring.similar import event_groups, image_groups, similar_pairs, similar_to
from tests.review.monitoring.photos import jpeg, resized_and_recompressed, scene
from tests.review.test_console import Desk, browser_less, desk, enter  # noqa: F401


def _photo(data: bytes, handle: str) -> tuple[MediaRef, bytes]:
    return MediaRef("photo", handle, len(data), None, "image/jpeg", None), data


async def _three_reports(desk: Desk) -> tuple[str, str, str, str]:
    original = jpeg(scene(1))
    first = (await desk.submit("the checkpoint, morning", (_photo(original, "a"),))).report_id
    forwarded = resized_and_recompressed(original)
    assert forwarded != original and len(forwarded) < len(original)
    second = (await desk.submit("same checkpoint", (_photo(forwarded, "b"),))).report_id
    other = (await desk.submit("another place", (_photo(jpeg(scene(2)), "c"),))).report_id
    plain = (await desk.submit("no photo at all")).report_id
    return first, second, other, plain


async def _records(desk: Desk) -> list[Record]:
    return await collect(desk.backend, item_opener(desk.backend, [desk.alice]), images=True)


async def test_resized_recompressed_photo_is_similar_a_different_one_is_not(desk: Desk) -> None:
    """Only the pair carrying the same picture matches; the different photo matches nothing."""
    first, second, other, plain = await _three_reports(desk)
    records = await _records(desk)
    hashed = {r.report_id: [a.phash for a in r.content.attachments] for r in records}
    assert all(h is not None for h in hashed[first] + hashed[second] + hashed[other])
    assert hashed[plain] == []
    (match,) = similar_pairs(records)
    assert {match.image.report_id, match.other.report_id} == {first, second}
    assert match.bits <= 4
    assert [m.other.report_id for m in similar_to(first, records)] == [second]
    assert similar_to(other, records) == []
    (group,) = image_groups(records)
    assert set(group.report_ids) == {first, second}
    # The bot's default answers give every report the same day, place and category.
    assert {rid for g in event_groups(records) for rid in g.report_ids} >= {first, second, other}


async def test_console_shows_similar_images_and_groups(
    desk: Desk, browser_less: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The report page links to its similar images; the corroboration page groups the reports."""
    first, second, other, _plain = await _three_reports(desk)
    await enter(browser_less, desk)
    async with browser_less.get(f"{desk.origin}/reports/{first}") as response:
        assert f"/reports/{first}/similar" in await response.text()
    html = ""
    for _ in range(300):
        async with browser_less.get(f"{desk.origin}/reports/{first}/similar") as response:
            assert response.status == 200
            html = await response.text()
        if "<progress" not in html:
            break
        await asyncio.sleep(0.1)
    assert f'href="/reports/{second}"' in html
    assert other not in html
    async with browser_less.get(f"{desk.origin}/reports/{other}/similar") as response:
        assert "No image of this report looks like" in await response.text()
    # Now that the images are hashed, the report page itself names the similar report.
    async with browser_less.get(f"{desk.origin}/reports/{second}") as response:
        section = (await response.text()).split('id="similar"')[1]
    assert f'href="/reports/{first}"' in section and other not in section
    async with browser_less.get(f"{desk.origin}/corroboration") as response:
        page = await response.text()
    matching = page.split("Same day, place and category")[0]
    assert first in matching and second in matching and other not in matching
    # The hashes stay on this machine: nothing of them reached the server's files.
    records = await _records(desk)
    hashes = [a.phash for r in records for a in r.content.attachments if a.phash]
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert hashes and not any(h.encode() in stored for h in hashes)
