"""A Telegram Bot API stand-in (aiohttp, loopback only) for tests, benchmarks and the demo.

The bot under test talks to it over HTTP exactly as it would talk to Telegram; tests and the
demo act as Telegram users through :class:`FakeUser`::

    async with BotApiStandIn(token) as standin:
        app = (ApplicationBuilder().token(token).base_url(standin.base_url)
               .base_file_url(standin.base_file_url).build())
        witness = standin.user(1001, "Ada")
        await witness.send_command("start")
        reply = await witness.next_bot_message()

Telegram's failure modes are off by default: ``standin.faults = Faults.each(0.1, seed=1)``
(429, 502, dropped connections, slow answers) and ``standin.flood_limits = FloodLimits()``.
Webhook mode delivers by POST once the bot calls setWebhook (``standin.webhook_targets``
spreads it over several workers). :class:`ScriptedWitness` and :func:`run_witnesses` drive
whole reports. ``standin/README.md`` describes all of it.
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
from standin.webhook import SECRET_HEADER, WebhookDelivery, WebhookStats
from standin.witness_script import ButtonLabels, WitnessScript
from standin.witnesses import ScriptedWitness, WitnessRecord, run_witnesses

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DOWNLOAD",
    "SECRET_HEADER",
    "ApiError",
    "BotApiStandIn",
    "BotMessage",
    "ButtonLabels",
    "FakeUser",
    "FaultKind",
    "Faults",
    "FloodLimits",
    "RecordedCall",
    "ScriptedWitness",
    "UploadedFile",
    "VisibleMessage",
    "WebhookDelivery",
    "WebhookStats",
    "WitnessRecord",
    "WitnessScript",
    "run_witnesses",
]
