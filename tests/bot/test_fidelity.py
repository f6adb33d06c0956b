"""Fidelity, the witness's choice (issue 10, item 5), through the real python-telegram-bot stack
against the Bot API stand-in: a photo or video sent as such is recompressed by Telegram, so the
witness is told once per conversation, neutrally, that sending it as a file keeps the original.
"""

from __future__ import annotations

import gettext
from pathlib import Path

from bot.core.fidelity import fidelity_notice
from bot.i18n import SUPPORTED_LANGUAGES, translations
from tests.bot.harness import (
    button,
    finish_and_send,
    press,
    replies,
    report_for_code,
    running_harness,
    start_addition,
    to_evidence,
)

NOTICE = fidelity_notice(gettext.NullTranslations().gettext)
JPEG = b"\xff\xd8\xff" + b"pixels" * 50 + b"\xff\xd9"


async def test_told_once_per_conversation_when_a_photo_arrives_recompressed(
    database_url: str, tmp_path: Path
) -> None:
    """A file sent as a document: nothing said. The first photo: the notice, once, with the
    usual count and buttons. More photos and a video: not again. A new conversation: once more.
    Everything sent is kept either way."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(8300001)
        await to_evidence(witness)
        await witness.send_document(JPEG, file_name="scene.jpg", mime_type="image/jpeg")
        (after_document,) = await replies(witness)
        assert "compresses" not in after_document
        await witness.send_photo(JPEG)
        (after_photo,) = await replies(witness)
        assert after_photo == "Received 2 files. Send more, or press Done.\n\n" + NOTICE
        assert "Done" in [label for row in witness.bot_messages()[-1].buttons for label, _ in row]
        await witness.send_photo(JPEG)
        await witness.send_video(b"video bytes")
        later = await replies(witness, 2)
        assert all("compresses" not in text for text in later), later
        assert later[-1] == "Received 4 files. Send more, or press Done."
        receipt = await finish_and_send(witness, evidence_sent=True)
        assert "code" in receipt[0].lower()

        # A new conversation is a new chance to choose: told again, once.
        await to_evidence(witness)
        await witness.send_video(b"another video")
        (again,) = await replies(witness)
        assert again.endswith(NOTICE)
        await witness.send_photo(JPEG)
        assert "compresses" not in (await replies(witness))[0]


async def test_the_notice_is_in_the_witness_language(database_url: str, tmp_path: Path) -> None:
    """A witness whose Telegram is in Ukrainian reads it in Ukrainian, as translated."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(8300002, language_code="uk")
        await witness.send_command("start")
        await replies(witness)
        await press(witness, "Так, продовжити")
        category = witness.bot_messages()[-1].buttons[4][0][0]
        await press(witness, category)
        await witness.send_text("Щось сталося")
        await replies(witness)
        await press(witness, witness.bot_messages()[-1].buttons[0][0][0])  # today
        await witness.send_text("Вулиця")
        await replies(witness)
        affected = witness.bot_messages()[-1].buttons
        await press(witness, affected[0][0][0])
        await press(witness, affected[5][0][0])  # done
        await press(witness, witness.bot_messages()[-1].buttons[0][1][0])  # skip
        await witness.send_photo(JPEG)
        (text,) = await replies(witness)
    expected = fidelity_notice(translations("uk").gettext)
    assert expected != NOTICE and text.endswith(expected)
    assert "скріпка" in expected


def test_every_catalog_translates_the_notice() -> None:
    """Twelve languages, twelve real translations (not the English text passed through)."""
    texts = {lang: fidelity_notice(translations(lang).gettext) for lang in SUPPORTED_LANGUAGES}
    assert set(texts) == {"en", "uk", "ru", "ar", "es", "fr", "fa", "ps", "my", "am", "sw", "tr"}
    assert len(set(texts.values())) == 12


async def test_told_once_in_a_status_session_too(database_url: str, tmp_path: Path) -> None:
    """Files added later through /status: the first photo brings the notice, the next does not;
    both are added to the report (the processing record of the photo's copy included)."""
    async with running_harness(database_url, tmp_path / "data") as h:
        witness = h.user(8300003)
        await start_addition(witness, await report_for_code(witness))
        await witness.send_photo(JPEG)
        (first,) = await replies(witness)
        assert first == "Added 1 item(s). Send more, or press Send.\n\n" + NOTICE
        await witness.send_photo(JPEG)
        (second,) = await replies(witness)
        assert second == "Added 2 item(s). Send more, or press Send."
        await witness.press(button(witness, "Send"))
        assert "added to your report" in (await replies(witness))[0]
