"""How a decrypted attachment is handed to the browser: shown in the page, or only downloaded.

A witness (or someone posing as one) chooses an attachment's bytes, its file name and the MIME
type Telegram reports, so all three are hostile input. Only a short list of image, audio and
video types is ever shown inline; SVG is not among them, because an SVG opened directly runs
script. Everything else is served as a download. Every attachment response also carries a CSP
`sandbox` and `nosniff`, so even bytes that are really HTML cannot run in the console's origin.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

Display = Literal["image", "audio", "video", "file"]

_IMAGES = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
_AUDIO = {
    "audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/mp4": "m4a", "audio/x-m4a": "m4a",
    "audio/aac": "aac", "audio/wav": "wav", "audio/x-wav": "wav", "audio/webm": "weba",
    "audio/flac": "flac", "audio/opus": "opus",
}
_VIDEO = {"video/mp4": "mp4", "video/webm": "webm"}
# What Telegram delivers when the sealed facts name no type: photos are always re-encoded as
# JPEG, voice notes are always Ogg Opus.
_KIND_DEFAULTS = {"photo": "image/jpeg", "voice": "audio/ogg"}
_MIME = re.compile(r"[a-z0-9][a-z0-9.+-]{0,63}/[a-z0-9][a-z0-9.+-]{0,63}")
_SAFE_ASCII = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSION = re.compile(r"[a-z0-9]{1,8}")
_MAX_NAME = 120

ATTACHMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


@dataclass(frozen=True)
class Presentation:
    display: Display
    content_type: str
    extension: str


def present(facts: dict[str, Any]) -> Presentation:
    """How to show an attachment, decided from its sealed facts alone."""
    declared = facts.get("mime_type")
    mime = declared.split(";", 1)[0].strip().lower() if isinstance(declared, str) else ""
    if not _MIME.fullmatch(mime):
        mime = _KIND_DEFAULTS.get(str(facts.get("kind")), "")
    for display, table in (("image", _IMAGES), ("audio", _AUDIO), ("video", _VIDEO)):
        if mime in table:
            return Presentation(display, mime, table[mime])  # type: ignore[arg-type]
    extension = _extension_of(facts.get("file_name"))
    # The declared type is still the best hint for the reviewer's own program once downloaded;
    # `attachment` and the sandbox keep the browser from interpreting it.
    return Presentation("file", mime or "application/octet-stream", extension)


def clean_file_name(name: object) -> str | None:
    """The witness's file name made harmless to show or to offer as a download name.

    Path parts are dropped, and so are control and format characters, which includes the
    right-to-left override that makes `gpj.exe` look like `exe.jpg`.
    """
    if not isinstance(name, str):
        return None
    base = re.split(r"[/\\]", name)[-1]
    kept = "".join(ch for ch in base if not unicodedata.category(ch).startswith("C"))
    kept = kept.strip(" .")[:_MAX_NAME]
    return kept or None


def content_disposition(
    *, inline: bool, report_id: str, seq: int, presentation: Presentation, file_name: object
) -> str:
    """`inline` or `attachment`, an ASCII name we made up, and the witness's name as filename*."""
    fallback = f"report-{report_id[:8]}-item-{seq:02d}.{presentation.extension}"
    value = f'{"inline" if inline else "attachment"}; filename="{fallback}"'
    original = clean_file_name(file_name)
    if original is not None:
        # RFC 5987 percent-encoding leaves no quote, semicolon or line break to break out with.
        value += f"; filename*=UTF-8''{urllib.parse.quote(original, safe='')}"
    return value


def _extension_of(name: object) -> str:
    cleaned = clean_file_name(name)
    if cleaned and "." in cleaned:
        extension = _SAFE_ASCII.sub("", cleaned.rsplit(".", 1)[1]).lower()
        if _EXTENSION.fullmatch(extension):
            return extension
    return "bin"
