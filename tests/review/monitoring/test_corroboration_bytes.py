"""Corroboration decides from the bytes, and a hostile image cannot exhaust the reviewer.

Telegram says a photo sent "as a file" is application/octet-stream; the bytes say JPEG. Two
witnesses sending the same picture, one each way, are paired, and both images are shown. A
13000x13000 PNG (169 million pixels: about 500 MB once decoded, yet 0.5 MB as a file) leaves
a real `intake review console` process under 300 MB while it decrypts and hashes the queue.
"""

# Test functions take the fixtures imported from test_console.py as arguments by name.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import struct
import sys
import zlib
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

import crypto
from bot.core import MediaRef
from review.monitoring.collect import collect, item_opener
from review.monitoring.similar import MAX_DECODED_PIXELS, perceptual_hash, similar_pairs
from review.monitoring.similar import thumbnail as similar_thumbnail
from review.recipients import add_reviewer
from storage import Storage, default_sqlite_url
from storage.server_keys import load_or_create_server_keys
from tests.review.monitoring.photos import jpeg, scene
from tests.review.test_console import Desk, browser_less, desk, enter, submit_report  # noqa: F401

REPOSITORY = Path(__file__).resolve().parents[3]
_URL = re.compile(rb"http://127\.0\.0\.1:\d+/\?key=[A-Za-z0-9_-]{43}")
RSS_LIMIT_MB = 300


def _as_photo(data: bytes, handle: str) -> tuple[MediaRef, bytes]:
    return MediaRef("photo", handle, len(data), None, "image/jpeg", None), data


def _as_file(data: bytes, handle: str, name: str = "IMG_0001") -> tuple[MediaRef, bytes]:
    """What Telegram reports for a photo sent as a file without an extension."""
    return MediaRef("document", handle, len(data), name, "application/octet-stream", None), data


async def test_a_photo_and_the_same_photo_sent_as_a_file_are_paired_and_shown(
    desk: Desk, browser_less: aiohttp.ClientSession
) -> None:
    picture = jpeg(scene(7))
    photo = (await desk.submit("at the bridge", (_as_photo(picture, "p"),))).report_id
    as_file = (await desk.submit("also the bridge", (_as_file(picture, "f"),))).report_id
    records = await collect(desk.backend, item_opener(desk.backend, [desk.alice]), images=True)
    (match,) = similar_pairs(records)
    assert {match.image.report_id, match.other.report_id} == {photo, as_file}
    assert match.bits == 0
    sent_as_file = next(r for r in records if r.report_id == as_file).content.attachments[0]
    assert sent_as_file.mime_type == "application/octet-stream"
    assert sent_as_file.sniffed == "image/jpeg" and sent_as_file.is_image

    await enter(browser_less, desk)
    html = ""
    for _ in range(300):
        async with browser_less.get(f"{desk.origin}/reports/{as_file}/similar") as response:
            html = await response.text()
        if "<progress" not in html:
            break
        await asyncio.sleep(0.1)
    shown = re.findall(r'<img src="([^"]+)"', html)
    assert len(shown) == 2 and all(src.endswith("/thumbnail.png") for src in shown)
    for src in shown:
        async with browser_less.get(desk.origin + src) as response:
            assert response.status == 200 and response.content_type == "image/png"
            assert "sandbox" in response.headers["Content-Security-Policy"]
            with Image.open(io.BytesIO(await response.read())) as thumb:
                assert max(thumb.size) <= 480 and not thumb.info.get("exif")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(side: int = 13000) -> bytes:
    """A valid RGB PNG of side x side pixels, written row by row (never decoded here)."""
    packer = zlib.compressobj(1)
    row = b"\x00" + b"\x50\x90\x30" * side
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body)
            + _chunk(b"IEND", b""))


def test_a_decompression_bomb_is_not_decoded() -> None:
    bomb = huge_png()
    assert len(bomb) < 5 * 1024 * 1024 and MAX_DECODED_PIXELS < 13000 * 13000
    assert perceptual_hash(bomb) is None
    # A large phone JPEG is decoded at reduced size and still hashed.
    assert perceptual_hash(jpeg(scene(3, (6000, 4500)))) is not None


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1)) / 1024


@pytest.mark.slow
async def test_the_console_stays_under_300_mb_with_a_13000_pixel_png(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    keys = load_or_create_server_keys(data_dir)
    reviewer = crypto.generate_identity()
    storage = await Storage.open(default_sqlite_url(data_dir), data_dir / "blobs")
    try:
        await add_reviewer(storage, "alice", str(reviewer.recipient))
        bomb = huge_png()
        await submit_report(storage, keys, "a huge picture", (_as_file(bomb, "b", "big.png"),))
        picture = jpeg(scene(5))
        await submit_report(storage, keys, "one", (_as_photo(picture, "p"),))
        await submit_report(storage, keys, "two", (_as_file(picture, "f"),))
    finally:
        await storage.close()
    key_file = tmp_path / "alice.key"
    key_file.write_text(f"{reviewer}\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "review", "console", "-i", str(key_file),
        cwd=REPOSITORY, env={**os.environ, "INTAKE_DATA_DIR": str(data_dir)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        printed = b""
        while not _URL.search(printed):
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
            assert line, "the console exited before printing its address"
            printed += line
        url = _URL.search(printed)
        assert url is not None
        origin = url.group().decode().split("/?")[0]
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as client:
            async with client.get(url.group().decode()) as response:
                assert response.status == 200
            page = ""
            for _ in range(1200):
                async with client.get(origin + "/corroboration") as response:
                    page = await response.text()
                if "<progress" not in page:
                    break
                await asyncio.sleep(0.1)
            assert "Reports with matching images" in page
            groups = page.split("Same day, place and category")[0]
            assert groups.count('class="rid"') == 2  # the photo and the same photo as a file
        peak = _peak_rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=30)
    print(f"console peak RSS with a 13000x13000 PNG in the queue: {peak:.0f} MB")
    assert peak < RSS_LIMIT_MB


# What a hostile image may add to the console: the 300 MB limit less the 132 MB the
# console uses before it decodes anything (measured in issue 20).
DECODE_HEADROOM_MB = RSS_LIMIT_MB - 132

_DECODE_AND_MEASURE = """
import re, sys
from pathlib import Path
from review.monitoring import similar
import imagehash, numpy  # what the console has loaded before it decodes an image

def peak():
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) / 1024

data = Path(sys.argv[1]).read_bytes()
before = peak()
similar.perceptual_hash(data)
similar.thumbnail(data)
print(peak() - before)
"""


def _decode_growth_mb(tmp_path: Path, data: bytes) -> float:
    """How far hashing and thumbnailing these bytes raise a fresh process's peak memory."""
    path = tmp_path / "image"
    path.write_bytes(data)
    script = tmp_path / "measure.py"
    script.write_text(_DECODE_AND_MEASURE)
    import subprocess

    done = subprocess.run([sys.executable, str(script), str(path)], cwd=REPOSITORY,
                          env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
                          capture_output=True, text=True, timeout=120, check=True)
    return float(done.stdout.split()[-1])


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "side"), [("WEBP", 4800), ("WEBP", 2828), ("PNG", 4898),
                                          ("PNG", 4000)])
def test_an_image_near_the_pixel_cap_stays_within_the_memory_headroom(
    tmp_path: Path, fmt: str, side: int
) -> None:
    """A WebP is decoded through libwebp's animation decoder (two RGBA canvases besides
    Pillow's copy), and a PNG has no reduced decoding: a tiny file at or just under a pixel cap
    (4800 and 4898 were under the first cap of 24 million) must not take the console past
    300 MB, and one under the cap is still hashed."""
    if fmt == "WEBP":
        data = _encoded(Image.new("RGB", (side, side), (9, 99, 199)), fmt, lossless=True)
    else:
        data = _encoded(Image.new("RGBA", (side, side), (1, 2, 3, 4)), fmt)
    assert len(data) < 200_000
    growth = _decode_growth_mb(tmp_path, data)
    print(f"{fmt} {side}x{side}: decoding raised the peak by {growth:.0f} MB")
    assert growth < DECODE_HEADROOM_MB
    if side * side * (2 if fmt == "WEBP" else 1) <= MAX_DECODED_PIXELS:
        assert perceptual_hash(data) is not None


def test_only_the_image_types_shown_are_decoded() -> None:
    """The thumbnail route takes any attachment; the bytes decide, and only JPEG, PNG, WebP and
    GIF are decoded: not TIFF, nor any other of Pillow's many readers (EPS runs Ghostscript)."""
    picture = scene(4)
    for fmt in ("TIFF", "BMP", "PPM", "ICO"):
        data = _encoded(picture, fmt)
        assert similar_thumbnail(data) is None, fmt
        assert perceptual_hash(data) is None, fmt
    for fmt in ("JPEG", "PNG", "WEBP", "GIF"):
        assert similar_thumbnail(_encoded(picture, fmt)) is not None, fmt


@pytest.mark.parametrize(("side", "subsampling"), [(6000, 0), (8000, 2), (4000, 0)])
def test_a_progressive_jpeg_counts_at_its_full_size(
    tmp_path: Path, side: int, subsampling: int
) -> None:
    """`draft` shrinks what libjpeg outputs, not what it holds: a progressive JPEG (or one whose
    first scan lacks a component) is decoded into DCT coefficients for the whole image, 2 bytes
    per component per pixel, whatever the scale (libjpeg jdcoefct.c, full-image buffer). A
    0.6 MB 10000x10000 progressive JPEG raised a process's peak by 293 MB, 580 MB at 4:4:4."""
    data = _encoded(Image.new("RGB", (side, side), (10, 120, 200)), "JPEG", progressive=True,
                    quality=50, subsampling=subsampling)
    growth = _decode_growth_mb(tmp_path, data)
    print(f"progressive JPEG {side}x{side} ({subsampling}): peak raised by {growth:.0f} MB")
    assert growth < DECODE_HEADROOM_MB
    if side * side <= MAX_DECODED_PIXELS:
        assert perceptual_hash(data) is not None


def test_a_thumbnail_carries_no_metadata_not_even_a_colour_profile() -> None:
    """A camera's ICC profile can name the device (its header's manufacturer and model, the
    `dmdd` description); Pillow copies a profile into the PNG it saves unless told not to."""
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    out = io.BytesIO()
    scene(6).save(out, format="JPEG", exif=exif.tobytes(), comment=b"a comment",
                  icc_profile=b"profile of the SecretCam X100 " * 8)
    made = similar_thumbnail(out.getvalue())
    assert made is not None
    with Image.open(io.BytesIO(made)) as shown:
        assert shown.info == {} and not shown.getexif()
    assert b"iCCP" not in made and b"eXIf" not in made
