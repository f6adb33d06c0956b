"""Several bots behind one stand-in address: each token reaches its own bot, an unknown one is
refused as Telegram refuses it (real python-telegram-bot over loopback)."""

from __future__ import annotations

import pytest
from telegram import Bot
from telegram.error import InvalidToken

from standin.faults import FloodLimits
from standin.server import BotApiStandIn
from standin.several import SeveralBots

ONE = "111111:ONE-token-for-the-stand-in-only-abcdef"
TWO = "222222:TWO-token-for-the-stand-in-only-abcdef"


def _bot(token: str, root: str) -> Bot:
    return Bot(token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot")


async def test_each_token_reaches_its_own_bot() -> None:
    async with SeveralBots(
        BotApiStandIn(ONE, bot_username="one_bot"),
        BotApiStandIn(TWO, bot_username="two_bot", flood_limits=FloodLimits()),
    ) as several:
        several[ONE].user(7, "W")
        several[TWO].user(7, "W")
        async with _bot(ONE, several.root_url) as one, _bot(TWO, several.root_url) as two:
            assert (one.username, two.username) == ("one_bot", "two_bot")
            await one.send_message(7, "to the first bot's chat")
        # The same user id is a chat with each bot; each stand-in keeps its own.
        assert [c.params["text"] for c in several[ONE].calls_to("sendMessage")] == [
            "to the first bot's chat"]
        assert several[TWO].calls_to("sendMessage") == []
        assert several[TWO].flood_limits is not None and several[ONE].flood_limits is None
        with pytest.raises(InvalidToken):
            await _bot("333333:UNKNOWN-token-nobody-serves-abcdef", several.root_url).get_me()
