"""Metadata-stripped working copies of images, for sharing beyond the reviewers.

The original file is evidence and is sealed exactly as received, camera and location data
included. Beside it goes a copy made from the pixels alone (Pillow): no EXIF (GPS, camera serial
numbers, times), no XMP or IPTC, no embedded thumbnails or text chunks. Orientation is applied
to the pixels first so the copy still displays upright.

Each copy comes with its processing record (issue 10, item 3): the names (never the values) of
the metadata it left out, the steps taken, the tool and its version, and the SHA-256 of the
original and of the copy. It is kept in the sealed answers document beside the attachment's
facts, since tag names such as GPSLatitude already say something about the original.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

# Pillow is imported when the first image is copied, not when the bot starts: an idle `intake
# serve` does not hold it in memory (bench/drafts_memory.py).

log = logging.getLogger("intake.working_copy")

_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# Decoding needs a few bytes per pixel, twice over; a tiny file can declare a huge canvas. Above
# this (a 24-megapixel camera's frame with room to spare) there is no working copy: the original
# is still sealed, and a reviewer can make a copy on their own machine.
MAX_PIXELS = 30_000_000
# Only an image up to this size is kept in memory for its copy (the largest file the Bot API
# serves); a larger file streams straight into its sealed original and gets no working copy.
MAX_IMAGE_BYTES = 20 * 1024 * 1024

# The first bytes of the formats above, so that other files are never held in memory.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def may_get_copy(head: bytes) -> bool:
    """Whether a file starting with `head` (at least 12 bytes, unless shorter) could get a copy."""
    if head.startswith(_SIGNATURES):
        return True
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


@dataclass(frozen=True)
class WorkingCopy:
    data: bytes
    mime_type: str
    record: dict[str, Any]


_MAX_NAMES = 200
# Container fields Pillow reads that are not metadata about the picture's origin, only about
# how to decode or display it; everything else in `info` is listed as removed.
_DECODING_INFO = frozenset({
    "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "progression", "progressive",
    "adobe", "adobe_transform", "interlace", "gamma", "transparency", "background", "duration",
    "loop", "aspect", "compression", "mode", "bbox", "srgb",
})


def _exif_names(image: Image.Image) -> list[str]:
    """The names of the EXIF tags in `image`, GPS and camera sub-directories included."""
    from PIL import ExifTags

    exif = image.getexif()
    names = [ExifTags.TAGS.get(tag, f"tag-{tag:#06x}") for tag in exif]
    for directory, table in ((ExifTags.IFD.Exif, ExifTags.TAGS),
                             (ExifTags.IFD.GPSInfo, ExifTags.GPSTAGS),
                             (ExifTags.IFD.Interop, ExifTags.TAGS)):
        try:
            found = exif.get_ifd(directory)
        except (KeyError, ValueError, TypeError, OSError):
            continue
        prefix = "GPS." if directory == ExifTags.IFD.GPSInfo else ""
        names += [f"{prefix}{table.get(tag, f'tag-{tag:#06x}')}" for tag in found]
    return sorted(set(names))


def _removed(image: Image.Image) -> dict[str, list[str]]:
    """What metadata the original carries (names only), by kind."""
    info_keys = sorted(str(k) for k in image.info if str(k) not in _DECODING_INFO)
    removed = {
        "exif": _exif_names(image),
        "xmp": ["XMP"] if any("xmp" in k.lower() for k in info_keys) else [],
        "iptc": ["IPTC/Photoshop"] if "photoshop" in info_keys else [],
        "icc_profile": ["ICC profile"] if "icc_profile" in info_keys else [],
        "other": [k for k in info_keys
                  if k not in ("exif", "icc_profile", "photoshop") and "xmp" not in k.lower()],
    }
    # A crafted file can carry thousands of text chunks: the record names the first ones.
    return {kind: names[:_MAX_NAMES] for kind, names in removed.items() if names}


def processing_record(
    original: bytes, copy: bytes, image_format: str, removed: dict[str, list[str]]
) -> dict[str, Any]:
    """The processing record of one working copy (stored sealed, in the answers document)."""
    steps = ["orientation from EXIF applied to the pixels",
             "pixels copied into a new image (no metadata carried over)"]
    steps.append("re-encoded as JPEG, quality 95" if image_format == "JPEG"
                 else f"re-encoded as {image_format}")
    return {
        "tool": "Pillow",
        "tool_version": _pillow_version(),
        "steps": steps,
        "removed": removed,
        "original_sha256": hashlib.sha256(original).hexdigest(),
        "copy_sha256": hashlib.sha256(copy).hexdigest(),
    }


def _pillow_version() -> str:
    import PIL

    return PIL.__version__


def working_copy(data: bytes) -> WorkingCopy | None:
    """A metadata-free copy of an image with its processing record; None if it is not an image
    we know (or too large to decode safely)."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            # A decompression bomb warning becomes an error: such a file gets no working copy.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in _FORMATS:
                    return None
                if image.width * image.height > MAX_PIXELS:
                    log.info("working_copy.too_large")
                    return None
                image_format = image.format
                removed = _removed(image)
                ImageOps.exif_transpose(image, in_place=True)
                # A new image holding only the pixels carries none of the original's `info`.
                # Pasting copies them once, without an intermediate bytes object.
                pixels = Image.new(image.mode, image.size)
                pixels.paste(image, (0, 0))
                palette = image.getpalette() if image.mode == "P" else None
                if palette is not None:
                    pixels.putpalette(palette)
                image.close()
                out = io.BytesIO()
                if image_format == "JPEG":
                    pixels.convert("RGB").save(out, "JPEG", quality=95)
                else:
                    pixels.save(out, image_format)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as error:
        log.info("working_copy.skipped", extra={"error": type(error)})
        return None
    copy = out.getvalue()
    return WorkingCopy(copy, _FORMATS[image_format],
                       processing_record(data, copy, image_format, removed))
