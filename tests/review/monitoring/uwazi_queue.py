"""Reports for the Uwazi package tests: long multi-line hostile text, places, dates, files.

Built through the bot's own submitter into a real SQLite data directory, with the truth about
each report kept beside it. Descriptions are a few hundred bytes over several lines, so the
package's import.csv passes 64 KiB and quoted multi-line cells fall across the 16 KiB mark.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

import crypto
from bot.core import MediaRef
from bot.core.draft import (
    ChoiceAnswer,
    DateAnswer,
    MultiChoiceAnswer,
    PlaceAnswer,
    Skipped,
    TextAnswer,
)
from bot.followup import FollowUpService
from bot.submission import fetch_from_memory
from review.recipients import add_reviewer
from storage import Storage, default_sqlite_url
from storage.server_keys import load_or_create_server_keys
from tests.review.monitoring.photos import scene
from tests.review.test_console import submit_report

REPORTS = 85
HOSTILE_LINES = (
    "They came at 5.",
    "<img src=x onerror=alert(1)> **not bold** [a link](http://evil.example)",
    "{media}(http://evil.example/v.mp4) # not a heading",
    "1. not a list \\ back\\slash & &amp; `code` _under_ ~strike~ | pipe",
    "",
    "Ночью их увезли — بعد منتصف الليل",
)
CATEGORIES = ("detention", "violence", "property", "threats", "other")
HTML = b"<!doctype html><html><script>alert(1)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(50)


def photo_with_gps() -> bytes:
    """A JPEG whose EXIF holds a camera model and a GPS position, as a phone writes it."""
    exif = Image.Exif()
    exif[0x0110] = "Witness Phone 12"  # Model
    exif[0x8825] = {1: "N", 2: (50.0, 27.0, 0.0), 3: "E", 4: (30.0, 31.0, 0.0)}  # GPS IFD
    out = io.BytesIO()
    scene(9, (640, 480)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


@dataclass(frozen=True)
class UwaziTruth:
    report_id: str
    what: str
    category: str | None
    when: dt.date | None
    point: tuple[float, float] | None
    approximate: bool
    place_text: str | None
    affected: tuple[str, ...]


@dataclass(frozen=True)
class UwaziQueue:
    data_dir: Path
    database_url: str
    reviewer: crypto.X25519Identity
    identity_file: Path
    truths: dict[str, UwaziTruth]
    with_photo: str
    with_files: str  # html, svg and exe attachments
    followed_up: str


async def add_reports(storage: Storage, data_dir: Path, count: int, seed: int,
                      ) -> dict[str, UwaziTruth]:
    keys = load_or_create_server_keys(data_dir)
    rng = random.Random(seed)
    truths = {}
    for index in range(count):
        lines = [f"Report {seed}-{index}:", *rng.sample(HOSTILE_LINES, 4),
                 "x" * rng.randrange(50, 400)]
        what = "\n".join(lines)
        category = rng.choice((*CATEGORIES, None))
        when = None if index % 9 == 0 else dt.date(2026, 1 + index % 12, 1 + index % 28)
        point, text, approximate = None, None, False
        if index % 3 == 0:
            point = (round(rng.uniform(-60, 60), 5), round(rng.uniform(-170, 170), 5))
            approximate = index % 2 == 0
        else:
            text = rng.choice(("Kharkiv", "Київ", "بغداد", "Saint-Denis"))
        affected = tuple(a for a in ("me", "known", "children") if rng.random() < 0.5)
        receipt = await submit_report(storage, keys, what, answers={
            "category": Skipped() if category is None else ChoiceAnswer(category),
            "when": DateAnswer(when),
            "where": PlaceAnswer(text, point[0] if point else None,
                                 point[1] if point else None, approximate),
            "affected": MultiChoiceAnswer(affected),
            "perpetrators": TextAnswer("Men in uniform\nwithout insignia"),
        })
        truths[receipt.report_id] = UwaziTruth(
            receipt.report_id, what, category, when, point, approximate, text, affected)
    return truths


async def _build(data_dir: Path, reviewer: crypto.X25519Identity) -> UwaziQueue:
    keys = load_or_create_server_keys(data_dir)
    storage = await Storage.open(default_sqlite_url(data_dir), data_dir / "blobs")
    try:
        await add_reviewer(storage, "alice", str(reviewer.recipient))
        truths = await add_reports(storage, data_dir, REPORTS, 5)
        picture = photo_with_gps()
        photo = (await submit_report(storage, keys, "a photo", (
            (MediaRef("photo", "p", len(picture), None, "image/jpeg"), picture),))).report_id
        files = tuple(
            (MediaRef("document", name, len(data), name, mime), data)
            for name, data, mime in (("page.html", HTML, "text/html"),
                                     ("image.svg", SVG, "image/svg+xml"),
                                     ("tool.exe", EXE, "application/octet-stream")))
        with_files = (await submit_report(storage, keys, "three files", files)).report_id
        followed = (await submit_report(storage, keys, "first account")).report_id
        await FollowUpService(storage, keys).add(
            followed, ["Second line of events\nwith <b>more</b>"], [], fetch_from_memory({}),
            submission_key=b"u" * 32)
    finally:
        await storage.close()
    identity_file = data_dir.parent / "alice.key"
    identity_file.write_text(f"{reviewer}\n")
    return UwaziQueue(data_dir, default_sqlite_url(data_dir), reviewer, identity_file, truths,
                      photo, with_files, followed)


def build_uwazi_queue(base: Path) -> UwaziQueue:
    data_dir = base / "data"
    data_dir.mkdir(parents=True)
    return asyncio.run(_build(data_dir, crypto.generate_identity()))
