"""Witness safety and evidence through the real PTB stack: deletion, /forget, albums, media
kinds, locations, floods."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.i18n import translations
from review.queue import list_reports, open_report
from tests.bot.harness import (
    button,
    finish_and_send,
    press,
    replies,
    running_harness,
    to_evidence,
)
from tests.bot.test_languages import SCRIPTS


async def test_conversation_is_deleted_after_submission(database_url: str, tmp_path: Path) -> None:
    """After Send, every message of the conversation (both sides) is deleted; the receipt stays."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7100001)
        await to_evidence(witness)
        await witness.send_photo(b"\xff\xd8\xffphoto\xff\xd9")
        await replies(witness)
        before = {m.message_id for m in witness.visible_messages()}
        assert len(before) > 10
        received = (await finish_and_send(witness, evidence_sent=True))[0]
        assert "receipt code" in received
        # The conversation is deleted only after the receipt has been delivered.
        deleted: set[int] = set()
        for _ in range(100):
            deleted = {i for call in h.standin.calls_to("deleteMessages")
                       for i in call.params["message_ids"]}
            if before <= deleted:
                break
            await asyncio.sleep(0.1)
        assert before <= deleted
        visible = witness.visible_messages()
        assert [m.sender for m in visible] == ["bot"] and "receipt code" in visible[0].text


async def test_forget_deletes_draft_and_messages(database_url: str, tmp_path: Path) -> None:
    """/forget at any time deletes the draft and the chat; /start afterwards begins afresh."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7100002)
        await to_evidence(witness, what="a secret account")
        await witness.send_command("forget")
        confirmation = (await replies(witness))[0]
        assert confirmation.startswith("Deleted what the bot could")
        texts = [m.text for m in witness.visible_messages()]
        assert texts == [confirmation]
        await witness.send_command("start")
        assert "is it safe" in (await replies(witness))[0]
        assert await list_reports(h.storage) == []


async def test_album_and_every_media_kind(database_url: str, tmp_path: Path) -> None:
    """An album is collected as one step; photos, video, voice, audio and documents are sealed."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7100003)
        await to_evidence(witness)
        for number in range(3):
            await witness.send_photo(f"album photo {number}".encode(), media_group_id="alb1")
        reply = (await replies(witness))[0]
        assert "Received 3 files" in reply
        await witness.send_video(b"video bytes")
        await replies(witness)
        await witness.send_voice(b"voice bytes")
        await replies(witness)
        await witness.send_audio(b"audio bytes", file_name="song.mp3")
        await replies(witness)
        await witness.send_document(b"%PDF doc", file_name="d.pdf", mime_type="application/pdf")
        await replies(witness)
        summary = await press(witness, "Done")
        await press(witness, "Skip")
        summary = await press(witness, "Skip")
        assert ("Files: 1 audio file, 1 document, 3 photos, 1 video, 1 voice note"
                in summary[0])
        await witness.press(button(witness, "Send"))
        await replies(witness)
        [summary_row] = await list_reports(h.storage)
        report = await open_report(h.storage, summary_row.report_id, [h.reviewer])
    kinds = sorted(a.facts["kind"] for a in report.attachments)
    assert kinds == ["audio", "document", "photo", "photo", "photo", "video", "voice"]
    assert {a.data for a in report.attachments} >= {b"video bytes", b"voice bytes", b"%PDF doc"}


async def test_location_coarsened(database_url: str, tmp_path: Path) -> None:
    """A shared location sent as approximate is rounded before sealing; the exact one is gone."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7100004)
        await witness.send_command("start")
        await replies(witness)
        await press(witness, "Yes, continue")
        await press(witness, "Something else")
        await witness.send_text("x")
        await replies(witness)
        await press(witness, "Today")
        await witness.send_location(50.4501234, 30.5234567)
        assert "approximately" in (await replies(witness))[0]
        await press(witness, "Approximate (about 1 km)")
        await press(witness, "Me")
        await press(witness, "Done")
        await press(witness, "Skip")
        await finish_and_send(witness, evidence_sent=False)
        [row] = await list_reports(h.storage)
        report = await open_report(h.storage, row.report_id, [h.reviewer])
    where = next(a for a in report.document["answers"] if a["question"] == "where")
    assert (where["latitude"], where["longitude"], where["approximate"]) == (50.45, 30.52, True)
    assert "4501234" not in str(report.document)


async def test_flood_from_one_user_does_not_stop_another(
    database_url: str, tmp_path: Path
) -> None:
    """One chat flooding gets a single slow-down notice and is ignored; another chat reports."""
    async with running_harness(database_url, tmp_path / "data") as h:
        flooder = h.user(7100005)
        calm = h.user(7100006)

        async def flood() -> None:
            for number in range(120):
                await flooder.send_text(f"spam {number}")

        async def report() -> str:
            await to_evidence(calm)
            return (await finish_and_send(calm, evidence_sent=False))[0]

        _flooded, received = await asyncio.gather(flood(), report())
        assert "receipt code" in received
        await asyncio.sleep(1.0)
        texts = [m.text for m in flooder.take_bot_messages()]
        assert sum("very quickly" in t for t in texts) == 1
        assert len(texts) < 60  # the bot stopped answering the flood
        assert len(await list_reports(h.storage)) == 1


async def test_the_slow_down_notice_is_in_the_language_the_witness_chose(
    database_url: str, tmp_path: Path
) -> None:
    """A witness whose Telegram is in English but who chose Ukrainian is told to slow down in
    Ukrainian, though the flood never opens the chat's state."""
    notice = translations("uk").gettext(
        "You are sending messages very quickly. Please wait a minute; nothing you sent before "
        "is lost.")
    assert SCRIPTS["uk"].search(notice)
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7100007, language_code="en")
        await witness.send_command("start")
        await replies(witness)
        await witness.send_command("language")
        await replies(witness)
        await press(witness, "Українська")
        for number in range(60):
            await witness.send_text(f"spam {number}")
        await asyncio.sleep(1.0)
        texts = [m.text for m in witness.take_bot_messages()]
    assert texts.count(notice) == 1, texts[-3:]
