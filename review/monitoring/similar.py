"""Corroboration: images that look alike across reports, and reports about the same event.

Perceptual hashes (imagehash's pHash: a DCT of the image shrunk to 32x32 grey, 64 bits) stay
close when a photo is resized, recompressed or lightly edited, unlike SHA-256. They are
computed here, after decryption, and kept only in this process and the reviewer's sealed cache:
a hash of a photo is a fingerprint of evidence and is never sent to the server in clear.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import imagehash
from PIL import Image, UnidentifiedImageError

from review.monitoring.places import place_key
from review.monitoring.records import Record

# Of 64 bits. Re-encoding and resizing move a pHash by a few bits; unrelated photos differ by
# about 32. Ten is imagehash's own suggestion for "probably the same picture".
SIMILAR_BITS = 10
_BANDS = SIMILAR_BITS + 1  # pigeonhole: two hashes within 10 bits agree on one of 11 bands


# Decoding is bounded four ways, so that a hostile image cannot take the reviewer's machine
# (the console included) past 300 MB: only the types the corroboration pages show (JPEG, PNG,
# WebP, GIF) are decoded, whatever other readers Pillow has (EPS would run Ghostscript);
# Pillow's own decompression-bomb check refuses an image declaring more than twice
# Image.MAX_IMAGE_PIXELS (about 179 million) before anything is decoded; a JPEG is decoded at
# reduced size by its DCT scaling (`draft`, down to 1/8 per side), which is all a 32x32 hash or
# a thumbnail needs; and no image is decoded whose pixels, after that reduction, exceed
# MAX_DECODED_PIXELS (16 million: 4000x4000). Measured, a decoded pixel costs up to about 8
# bytes at the peak (RGBA, and the copy a conversion or a resize makes), so 16 million stay
# near 130 MB; WebP costs twice that (libwebp's animation decoder, which Pillow uses for every
# WebP, holds two RGBA canvases besides Pillow's copy), so its cap is half. A 13000x13000 PNG
# (169 million pixels, about 500 MB decoded) is therefore not hashed at all; a 108-megapixel
# phone JPEG is, at 1/8 of each side, unless it is progressive: libjpeg then holds the whole
# image's coefficients (up to 8 bytes a pixel) whatever the scale, so its full size counts.
MAX_DECODED_PIXELS = 16_000_000
_DECODED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
_COSTLIER = {"WEBP": 2}  # how many times MAX_DECODED_PIXELS' memory one pixel costs
_REDUCED = (256, 256)  # what `draft` aims at: at least this, as small as the scaling allows
THUMBNAIL = 480  # pixels on the longest side of an image shown on the corroboration pages


_SEQUENTIAL_FRAMES = (0xC0, 0xC1, 0xC9)  # SOF markers of a JPEG decoded scan by scan


def _jpeg_holds_whole_image(data: bytes) -> bool:
    """Whether libjpeg must hold the DCT coefficients of the whole image while decoding (2 bytes
    per component per pixel, whatever `draft` scale): a progressive JPEG, or one whose first
    scan does not carry every component (libjpeg's `has_multiple_scans`, jdcoefct.c's
    full-image buffer). Anything unexpected counts as yes."""
    index, components = 2, 0
    while index + 4 <= len(data):
        if data[index] != 0xFF:
            return True
        marker = data[index + 1]
        if marker == 0xFF or 0xD0 <= marker <= 0xD8 or marker == 0x01:  # fill, RSTn, SOI, TEM
            index += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(data[index + 2:index + 4], "big")
        segment = data[index + 4:index + 2 + length]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame header
            if marker not in _SEQUENTIAL_FRAMES or len(segment) < 6:
                return True
            components = segment[5]
        elif marker == 0xDA:  # the first scan
            return not segment or segment[0] < components
        index += 2 + length
    return True


def _bounded(data: bytes) -> Image.Image | None:
    """The image opened for decoding at reduced size, or None if it is not one or too big."""
    try:
        image = Image.open(io.BytesIO(data), formats=_DECODED_FORMATS)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    try:
        if image.format == "JPEG":
            width, height = image.size
            if _jpeg_holds_whole_image(data) and width * height > MAX_DECODED_PIXELS:
                image.close()
                return None
            image.draft("RGB", _REDUCED)  # decoded at 1/2, 1/4 or 1/8 per side
        width, height = image.size
        if width * height * _COSTLIER.get(image.format or "", 1) > MAX_DECODED_PIXELS:
            image.close()
            return None
        image.load()
        return image
    except (OSError, ValueError, Image.DecompressionBombError):
        image.close()
        return None


def perceptual_hash(data: bytes) -> str | None:
    """The image's 64-bit pHash as 16 hex digits; None if it is not an image PIL can read, or
    one too large to decode safely (see MAX_DECODED_PIXELS)."""
    image = _bounded(data)
    if image is None:
        return None
    with image:
        try:
            return str(imagehash.phash(image))
        except (OSError, ValueError):
            return None


def thumbnail(data: bytes) -> bytes | None:
    """A small PNG of the image (first frame, no metadata), decoded within the same bounds."""
    image = _bounded(data)
    if image is None:
        return None
    with image:
        try:
            image.thumbnail((THUMBNAIL, THUMBNAIL))
            out = io.BytesIO()
            shown = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            shown.info.clear()  # a colour profile can name the camera; Pillow would copy it
            shown.save(out, format="PNG")
        except (OSError, ValueError):
            return None
    return out.getvalue()


def distance(left: str, right: str) -> int:
    return (int(left, 16) ^ int(right, 16)).bit_count()


@dataclass(frozen=True)
class ImageRef:
    report_id: str
    seq: int
    phash: str


@dataclass(frozen=True)
class Match:
    image: ImageRef  # in this report
    other: ImageRef  # in another report
    bits: int  # how many of the 64 bits differ: 0 is the same picture


def _images(records: Iterable[Record]) -> list[ImageRef]:
    return [
        ImageRef(r.report_id, a.seq, a.phash)
        for r in records for a in r.content.attachments if a.phash is not None
    ]


def _bands(phash: str) -> list[tuple[int, int]]:
    value = int(phash, 16)
    width = -(-64 // _BANDS)
    return [(band, (value >> (band * width)) & ((1 << width) - 1)) for band in range(_BANDS)]


def similar_pairs(records: Sequence[Record]) -> list[Match]:
    """Every pair of images in different reports within SIMILAR_BITS of each other.

    Candidates come from exact agreement on one of eleven bands of the hash, so this is close
    to linear in the number of images rather than quadratic, and misses no pair in range.
    """
    images = _images(records)
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, image in enumerate(images):
        for band in _bands(image.phash):
            buckets[band].append(index)
    seen: set[tuple[int, int]] = set()
    matches = []
    for members in buckets.values():
        for i, left in enumerate(members):
            for right in members[i + 1:]:
                pair = (min(left, right), max(left, right))
                a, b = images[pair[0]], images[pair[1]]
                if pair in seen or a.report_id == b.report_id:
                    continue
                seen.add(pair)
                bits = distance(a.phash, b.phash)
                if bits <= SIMILAR_BITS:
                    matches.append(Match(a, b, bits))
    return sorted(matches, key=lambda m: (m.bits, m.image.report_id, m.other.report_id))


def similar_to(report_id: str, records: Sequence[Record]) -> list[Match]:
    """Images in other reports that look like this report's images, closest first."""
    found = []
    for match in similar_pairs(records):
        if match.image.report_id == report_id:
            found.append(match)
        elif match.other.report_id == report_id:
            found.append(Match(match.other, match.image, match.bits))
    return found


@dataclass(frozen=True)
class Group:
    reason: str  # "matching images" or "same day, place and category"
    key: str  # what they share, to show
    report_ids: tuple[str, ...]


def image_groups(records: Sequence[Record]) -> list[Group]:
    """Reports linked by similar images, each connected set once (union-find)."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for match in similar_pairs(records):
        parent[root(match.image.report_id)] = root(match.other.report_id)
    members: dict[str, list[str]] = defaultdict(list)
    for node in parent:
        members[root(node)].append(node)
    return sorted(
        (Group("matching images", f"{len(ids)} reports", tuple(sorted(ids)))
         for ids in members.values() if len(ids) > 1),
        key=lambda g: (-len(g.report_ids), g.report_ids),
    )


def event_groups(
    records: Sequence[Record], *, category: str = "category", place: str = "where",
    when: str = "when",
) -> list[Group]:
    """Reports that give the same incident day, the same place and the same category."""
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    shown: dict[tuple[str, str, str], str] = {}
    for record in records:
        day = (record.answer(when) or {}).get("date")
        located = place_key(record.answer(place))
        kind = (record.answer(category) or {}).get("choice")
        if not (isinstance(day, str) and located and isinstance(kind, str)):
            continue
        key = (day, located[0], kind)
        groups[key].append(record.report_id)
        shown.setdefault(key, f"{day} · {located[1]} · {kind}")
    return sorted(
        (Group("same day, place and category", shown[k], tuple(sorted(ids)))
         for k, ids in groups.items() if len(ids) > 1),
        key=lambda g: (-len(g.report_ids), g.key),
    )
