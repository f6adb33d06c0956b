"""Fidelity, the witness's choice (issue 10, item 5).

A photo or video sent as such reaches the bot recompressed by Telegram, without its camera
details; the same file sent as a file arrives byte for byte. The witness is told once per
conversation (the report's, and a /status session's), neutrally: it is their choice, since
camera details include where the picture was taken.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.core.draft import MediaRef

# What Telegram recompresses on the way (bot/telegram/updates.py records video notes and
# animations as `video`); documents arrive byte for byte.
RECOMPRESSED_KINDS = frozenset({"photo", "video"})


def fidelity_notice(_: Callable[[str], str]) -> str:
    """Told once per conversation, neutrally: the witness decides, and either way is kept."""
    return _("A note on quality: Telegram compresses photos and videos sent this way. Sending "
             "the same file as a file (paperclip, then File) keeps its original quality and the "
             "camera's details, including the location where it was taken, which can matter as "
             "evidence. It is your choice: what you sent is kept either way.")


def recompressed(files: Sequence[MediaRef]) -> bool:
    """Whether a kept file arrived in a form Telegram recompresses (a photo or video sent as
    such, not as a file); a refused file changes nothing."""
    return any(media.kind in RECOMPRESSED_KINDS for media in files)
