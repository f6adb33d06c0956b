"""Each language through the real PTB stack, and switching language in the middle."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from review.queue import list_reports, open_report
from standin.client import FakeUser
from tests.bot.harness import press, replies, running_harness

SCRIPTS = {
    "uk": re.compile(r"[іїєґ]"),
    "ru": re.compile(r"[ыэъ]"),
    "ar": re.compile(r"[\u0600-\u06FF]"),
    "es": re.compile(r"[áéíóúñ¿]"),
    "fr": re.compile(r"[àâçéèêîôû]"),
}


async def _press_at(user: FakeUser, row: int, column: int = 0, count: int = 1) -> list[str]:
    """Press a button by position, so the test does not depend on the translated labels."""
    message = next(m for m in reversed(user.bot_messages()) if m.buttons)
    await user.press(message.buttons[row][column][1])
    return await replies(user, count)


@pytest.mark.parametrize("language", sorted(SCRIPTS))
async def test_whole_report_in_language(language: str, database_url: str, tmp_path: Path) -> None:
    """A witness whose Telegram is set to this language is asked and answered in it, and the
    sealed report records the language and the translated labels."""
    script = SCRIPTS[language]
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(8100000 + len(language) * 7 + ord(language[0]), language_code=language)
        await witness.send_command("start")
        first = (await replies(witness))[0]
        assert script.search(first), first
        texts = [first]
        texts += await _press_at(witness, 0)          # safety: yes
        texts += await _press_at(witness, 4)          # category: something else
        await witness.send_text("text in any language")
        texts += await replies(witness)
        texts += await _press_at(witness, 0, 0)       # when: today
        await witness.send_text("somewhere")
        texts += await replies(witness)
        texts += await _press_at(witness, 0)          # affected: tick the first
        texts += await _press_at(witness, 5)          # affected: done
        texts += await _press_at(witness, 0, 1)       # who did it: skip
        texts += await _press_at(witness, 1, 1)       # evidence: skip
        texts += await _press_at(witness, 3, 1)       # safe now: skip
        summary = await _press_at(witness, 2, 1)      # contact: skip -> summary
        assert script.search(summary[0]), summary
        done = await _press_at(witness, 0)            # send: the receipt alone
        assert script.search(done[0]), done
        assert all(script.search(t) for t in texts), [t for t in texts if not script.search(t)]
        [row] = await list_reports(h.storage)
        report = await open_report(h.storage, row.report_id, [h.reviewer])
    assert report.document["language"] == language
    labels = [a["label"] for a in report.document["answers"]]
    assert sum(bool(script.search(label)) for label in labels) >= len(labels) // 2


async def test_switching_language_keeps_answers(database_url: str, tmp_path: Path) -> None:
    """/language in the middle switches to Ukrainian; earlier answers stay and are sent."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(8200001, language_code="en")
        await witness.send_command("start")
        await replies(witness)
        await press(witness, "Yes, continue")
        await press(witness, "Something else")
        await witness.send_text("answered in English")
        await replies(witness)
        await witness.send_command("language")
        menu = (await replies(witness))[0]
        assert "Choose a language" in menu
        switched = await press(witness, "Українська")
        assert SCRIPTS["uk"].search(switched[0])
        summary_texts = []
        summary_texts += await _press_at(witness, 0, 0)    # when: today
        await witness.send_text("місто")
        summary_texts += await replies(witness)
        assert all(SCRIPTS["uk"].search(t) for t in summary_texts)
        await _press_at(witness, 0)
        await _press_at(witness, 5)
        await _press_at(witness, 0, 1)
        await _press_at(witness, 1, 1)
        await _press_at(witness, 3, 1)
        summary = (await _press_at(witness, 2, 1))[0]
        assert "answered in English" in summary and SCRIPTS["uk"].search(summary)
        await _press_at(witness, 0)
        [row] = await list_reports(h.storage)
        report = await open_report(h.storage, row.report_id, [h.reviewer])
    assert report.document["language"] == "uk"
    what = next(a for a in report.document["answers"] if a["question"] == "what")
    assert what["text"] == "answered in English"
