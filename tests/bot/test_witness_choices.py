"""Issue 22 over the real python-telegram-bot stack and the stand-in: Cancel asks before it
deletes, the witness's language outlives /cancel, and a deep link during an open report asks
which report to go on with (both choices end in a stored report of the right channel)."""

from __future__ import annotations

from pathlib import Path

from bot.i18n import translations
from review.queue import list_reports, open_report
from tests.bot.harness import button, press, replies, running_harness
from tests.bot.test_channels_witness import HILLS_EN, RIVER_EN, Office, _answer_and_send

ARABIC = translations("ar").gettext
DELETE_ASKED = ARABIC("Delete this report? Nothing has been sent yet. If you delete it, your "
                      "answers are gone.")


async def test_an_arabic_witness_stays_in_arabic_after_cancel(
    database_url: str, tmp_path: Path
) -> None:
    """A witness on an English phone chooses Arabic; Cancel asks in Arabic, Keep keeps every
    answer, Delete deletes; every later message (an unexpected one, /start again) is Arabic."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(7220001, language_code="en")
        await witness.send_command("start")
        await replies(witness)
        await press(witness, "Yes, continue")
        await witness.send_command("language")
        await replies(witness)
        [category] = await press(witness, "العربية")
        assert category.startswith("ما نوع الحادثة"), category
        await press(witness, "شيء آخر")
        await witness.send_text("وصف ما حدث")
        await replies(witness)
        [asked] = await press(witness, ARABIC("Cancel"))
        assert asked == DELETE_ASKED
        [kept] = await press(witness, ARABIC("Keep it"))
        assert kept.startswith(ARABIC("Kept. Nothing was deleted.")), kept
        # The summary later still has the description typed before Cancel.
        await press(witness, ARABIC("Today"))
        await witness.send_text("شارع")
        await replies(witness)
        await press(witness, "أنا")
        await press(witness, ARABIC("Done"))
        await press(witness, ARABIC("Skip"))
        await press(witness, ARABIC("Skip"))
        await press(witness, ARABIC("Skip"))
        [summary] = await press(witness, ARABIC("Skip"))
        assert "وصف ما حدث" in summary, summary

        await witness.send_command("cancel")
        [asked] = await replies(witness)
        assert asked == DELETE_ASKED, asked
        [cancelled] = await press(witness, ARABIC("Delete it"))
        assert cancelled == ARABIC("Cancelled. Nothing was sent and your answers are deleted. "
                                   "You can start again with /start.")
        await witness.send_text("hello?")
        [hello] = await replies(witness)
        assert hello == ARABIC("Hello. To report an incident, send /start."), hello
        await witness.send_command("start")
        [first] = await replies(witness)
        assert first.startswith("قبل أن نبدأ"), first
        assert await list_reports(h.storage) == []


async def test_a_deep_link_during_an_open_report_both_choices(
    database_url: str, tmp_path: Path
) -> None:
    """River's report is open when hills's link comes: Continue keeps river's report (stored
    for river's reviewer); the next time, Start a new report begins hills's questionnaire,
    whose report only hills's reviewer opens."""
    office = Office(tmp_path)
    async with running_harness(database_url, tmp_path / "data", setup=office.setup) as h:
        witness = h.user(7220002, language_code="en")
        await witness.send_command("start", "river")
        [first] = await replies(witness)
        assert first.startswith(RIVER_EN), first
        await press(witness, "Yes, continue")
        await press(witness, "Something else")
        await witness.send_command("start", "hills")
        [asked] = await replies(witness)
        assert asked.startswith("You followed a link to another organisation"), asked
        [again] = await press(witness, "Continue my report")
        assert again.startswith("Please describe what happened"), again
        await witness.send_command("start", "hills")
        await replies(witness)
        [fresh] = await press(witness, "Start a new report")
        assert fresh.startswith(HILLS_EN), fresh
        # The river button of the earlier prompt is stale now; the report goes to hills.
        earlier = next(m for m in reversed(witness.bot_messages())
                       if any(label == "Continue my report" for row in m.buttons
                              for label, _data in row))
        await witness.press(button(witness, "Continue my report"), message_id=earlier.message_id)
        [stale] = await replies(witness)
        assert "earlier question" in stale, stale
        done = await _answer_and_send(witness)
        assert "receipt code" in done[0], done
        [row] = await list_reports(h.storage)
        assert await h.storage.reports.channel_of(row.report_id) == "hills"
        report = await open_report(h.storage, row.report_id, [office.hugo])
        assert report.document["channel"] == "hills"

        other = h.user(7220003, language_code="en")
        await other.send_command("start", "river")
        await replies(other)
        await press(other, "Yes, continue")
        await other.send_command("start", "hills")
        await replies(other)
        await press(other, "Continue my report")
        await press(other, "Back")                    # back to the safety question
        done = await _answer_and_send(other)
        assert "receipt code" in done[0], done
        rows = await list_reports(h.storage)
        channels = {await h.storage.reports.channel_of(r.report_id) for r in rows}
        assert channels == {"hills", "river"}
