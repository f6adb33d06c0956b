"""Photo-like test images: a seeded scene, and the same scene resized and recompressed."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter


def scene(seed: int, size: tuple[int, int] = (1024, 768)) -> Image.Image:
    """Sky, ground and a few dozen coloured shapes, blurred a little like a camera would."""
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size, (rng.randrange(90, 200), rng.randrange(120, 220), 235))
    draw = ImageDraw.Draw(image)
    horizon = rng.randrange(height // 3, 2 * height // 3)
    draw.rectangle((0, horizon, width, height), fill=(rng.randrange(60, 160), 120, 70))
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(20, width // 3), rng.randrange(20, height // 3)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.rectangle((x, y, x + w, y + h), fill=colour)
        else:
            draw.ellipse((x, y, x + w, y + h), fill=colour)
    return image.filter(ImageFilter.GaussianBlur(1.5))


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def resized_and_recompressed(data: bytes, scale: float = 0.5, quality: int = 55) -> bytes:
    """What a messenger does to a forwarded photo: smaller, and compressed harder."""
    with Image.open(io.BytesIO(data)) as original:
        smaller = original.resize(
            (int(original.width * scale), int(original.height * scale)), Image.Resampling.LANCZOS
        )
    return jpeg(smaller, quality)
