"""A Telegram Bot API stand-in (aiohttp, loopback only) for tests and the offline demo.

The bot under test talks to it over HTTP exactly as it would talk to Telegram; tests and the
demo act as Telegram users through :class:`FakeUser`::

    async with BotApiStandIn(token) as standin:
        app = (ApplicationBuilder().token(token).base_url(standin.base_url)
               .base_file_url(standin.base_file_url).build())
        witness = standin.user(1001, "Ada")
        await witness.send_command("start")
        reply = await witness.next_bot_message()
"""

from standin.client import FakeUser
from standin.faults import DOWNLOAD, FaultKind, Faults, FloodLimits
from standin.models import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    ApiError,
    BotMessage,
    RecordedCall,
    UploadedFile,
    VisibleMessage,
)
from standin.server import BotApiStandIn

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DOWNLOAD",
    "ApiError",
    "BotApiStandIn",
    "BotMessage",
    "FakeUser",
    "FaultKind",
    "Faults",
    "FloodLimits",
    "RecordedCall",
    "UploadedFile",
    "VisibleMessage",
]
