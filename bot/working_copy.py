"""Metadata-stripped working copies of images, for sharing beyond the reviewers.

The original file is evidence and is sealed exactly as received, camera and location data
included. Beside it goes a copy made from the pixels alone (Pillow): no EXIF (GPS, camera serial
numbers, times), no XMP or IPTC, no embedded thumbnails or text chunks. Orientation is applied
to the pixels first so the copy still displays upright.
"""

from __future__ import annotations

import io
import logging
import warnings

from PIL import Image, ImageOps

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


def stripped_copy(data: bytes) -> tuple[bytes, str] | None:
    """A metadata-free copy of an image and its MIME type; None if it is not an image we know."""
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
    return out.getvalue(), _FORMATS[image_format]
