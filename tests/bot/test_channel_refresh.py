"""A partner channel added, or its questionnaire changed, while the bot runs: served without a
restart (the real PTB stack against the stand-in, channels written as `intake channel` does)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE
from review.channels import add_channel, set_channel
from review.recipients import add_reviewer
from standin.client import FakeUser
from storage import Storage
from storage.records import ChannelRecord
from tests.bot.harness import Harness, replies, running_harness

RIVER = "River Legal Aid asks: before we start"
RIVER_AGAIN = "River Legal Aid, new wording: before we start"
DEFAULT_FIRST = "Before we start"


async def _first_question(h: Harness, user_id: int, link: str) -> str:
    witness: FakeUser = h.user(user_id, language_code="en")
    await witness.send_command("start", link)
    [first] = await replies(witness)
    return first


async def _until_first_question_starts(h: Harness, start_id: int, link: str, wanted: str) -> str:
    """A new witness every half second until one is asked `wanted` first (20 s at most)."""
    first = ""
    for attempt in range(40):
        first = await _first_question(h, start_id + attempt, link)
        if first.startswith(wanted):
            return first
        await asyncio.sleep(0.5)
    raise AssertionError(f"still asked {first!r}")


async def test_a_channel_added_and_changed_while_running_is_served(
    database_url: str, tmp_path: Path
) -> None:
    """Before the channel exists its link reaches the default questionnaire; once added, new
    witnesses get its own questionnaire; after its file is edited in place, the new wording;
    after its questionnaire is reset, the deployment's again. No restart in between."""
    shipped = DEFAULT_QUESTIONNAIRE.read_text(encoding="utf-8")
    river_file = tmp_path / "river.toml"
    river_file.write_text(shipped.replace(DEFAULT_FIRST, RIVER), encoding="utf-8")
    async with running_harness(database_url, tmp_path / "data",
                               channel_refresh_seconds=0.3) as h:
        unknown = h.user(9200001, language_code="en")
        await unknown.send_command("start", "river")
        notice, first = await replies(unknown, 2)
        assert "does not lead to an organisation this bot knows" in notice
        assert first.startswith(DEFAULT_FIRST)
        await add_channel(h.storage, ChannelRecord(
            slug="river", name="River Legal Aid", questionnaire=str(river_file), public=True))
        await add_reviewer(h.storage, "rita", str(crypto.generate_identity().recipient),
                           channel="river")
        await _until_first_question_starts(h, 9200100, "river", RIVER)
        river_file.write_text(shipped.replace(DEFAULT_FIRST, RIVER_AGAIN), encoding="utf-8")
        await _until_first_question_starts(h, 9200200, "river", RIVER_AGAIN)
        await set_channel(h.storage, "river", {"questionnaire": None})
        await _until_first_question_starts(h, 9200300, "river", DEFAULT_FIRST)
        assert any("channels.reloaded" in line for line in h.logs.lines)


async def test_a_channel_broken_while_running_leaves_the_channels_as_they_were(
    database_url: str, tmp_path: Path
) -> None:
    """A questionnaire file broken in place: one warning, and witnesses keep getting the
    channel as it was loaded last, instead of an error or the bot stopping."""
    shipped = DEFAULT_QUESTIONNAIRE.read_text(encoding="utf-8")
    river_file = tmp_path / "river.toml"
    river_file.write_text(shipped.replace(DEFAULT_FIRST, RIVER), encoding="utf-8")

    async def setup(storage: Storage) -> None:
        await add_channel(storage, ChannelRecord(
            slug="river", name="River Legal Aid", questionnaire=str(river_file), public=True))
        await add_reviewer(storage, "rita", str(crypto.generate_identity().recipient),
                           channel="river")

    async with running_harness(database_url, tmp_path / "data", setup=setup,
                               channel_refresh_seconds=0.3) as h:
        assert (await _first_question(h, 9200401, "river")).startswith(RIVER)
        river_file.write_text("this is [not a questionnaire", encoding="utf-8")
        for _ in range(40):
            if any("channels.reload_refused" in line for line in h.logs.lines):
                break
            await asyncio.sleep(0.25)
        refused = [line for line in h.logs.lines if "channels.reload_refused" in line]
        assert len(refused) == 1 and "WARNING" in refused[0]
        await asyncio.sleep(1.0)  # more rounds: still one warning
        assert len([line for line in h.logs.lines if "channels.reload_refused" in line]) == 1
        assert (await _first_question(h, 9200402, "river")).startswith(RIVER)
