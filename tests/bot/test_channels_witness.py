"""Channels, the witness side: deep links, an unknown slug, the chooser; through the real PTB
stack against the stand-in, sealed reports opened with each channel's reviewer key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, DraftClosed, Phase, Press, Reply, Start
from bot.core.channels import ChannelConversations, ChannelEntry
from review.channels import add_channel, set_channel
from review.queue import list_reports, open_report
from review.recipients import add_reviewer
from standin.client import FakeUser
from storage import Storage
from storage.records import ChannelRecord
from tests.bot.harness import replies, running_harness

# The first question of each channel's copy of the questionnaire says whose it is.
RIVER_EN = "River Legal Aid asks: before we start"
HILLS_UK = "Правозахисники Пагорбів питають: перш ніж почати"
HILLS_EN = "Hills Defenders ask: before we start"
RIVER_CLOSING = "River Legal Aid reads every report within a week."


def _questionnaires(folder: Path) -> tuple[Path, Path]:
    shipped = DEFAULT_QUESTIONNAIRE.read_text(encoding="utf-8")
    assert "Before we start" in shipped and "Перш ніж почати" in shipped
    river = folder / "river.toml"
    # River's own closing words, after the receipt code (its questionnaire's `closing`).
    river.write_text(shipped.replace("Before we start", RIVER_EN).replace(
        'default_language = "en"\n',
        f'default_language = "en"\nclosing.en = "{RIVER_CLOSING}"\n'), encoding="utf-8")
    hills = folder / "hills.toml"
    hills.write_text(shipped.replace("Before we start", HILLS_EN)
                     .replace("Перш ніж почати", HILLS_UK), encoding="utf-8")
    return river, hills


class Office:
    """Two partner channels, each with its own questionnaire and its own reviewer."""

    def __init__(self, folder: Path) -> None:
        self.river_file, self.hills_file = _questionnaires(folder)
        self.rita = crypto.generate_identity()  # reviews for river
        self.hugo = crypto.generate_identity()  # reviews for hills

    async def setup(self, storage: Storage) -> None:
        await add_channel(storage, ChannelRecord(
            slug="river", name="River Legal Aid", questionnaire=str(self.river_file),
            public=True))
        await add_channel(storage, ChannelRecord(
            slug="hills", name="Hills Defenders", questionnaire=str(self.hills_file),
            languages=("uk", "en"), public=True))
        await add_reviewer(storage, "rita", str(self.rita.recipient), channel="river")
        await add_reviewer(storage, "hugo", str(self.hugo.recipient), channel="hills")


async def _press_at(user: FakeUser, row: int, column: int = 0, count: int = 1) -> list[str]:
    """Press a button by position, so the test does not depend on the translated labels."""
    message = next(m for m in reversed(user.bot_messages()) if m.buttons)
    await user.press(message.buttons[row][column][1])
    return await replies(user, count)


async def _answer_and_send(witness: FakeUser) -> list[str]:
    """From the safety question (on screen) to the receipt, the shortest way."""
    await _press_at(witness, 0)          # safety: yes
    await _press_at(witness, 4)          # category: something else
    await witness.send_text("what happened")
    await replies(witness)
    await _press_at(witness, 0, 0)       # when: today
    await witness.send_text("a street")
    await replies(witness)
    await _press_at(witness, 0)          # affected: tick the first
    await _press_at(witness, 5)          # affected: done
    await _press_at(witness, 0, 1)       # who did it: skip
    await _press_at(witness, 1, 1)       # evidence: skip
    await _press_at(witness, 3, 1)       # safe now: skip
    await _press_at(witness, 2, 1)       # contact: skip -> summary
    return await _press_at(witness, 0)  # send: the receipt alone


async def test_each_deep_link_leads_to_its_channel(database_url: str, tmp_path: Path) -> None:
    """A witness through each channel's link gets that channel's questions in their language,
    and the report lands in that channel, sealed to its reviewer only."""
    office = Office(tmp_path)
    async with running_harness(database_url, tmp_path / "data", setup=office.setup) as h:
        river = h.user(9100001, language_code="en")
        await river.send_command("start", "river")
        [first] = await replies(river)
        assert first.startswith(RIVER_EN), first
        hills = h.user(9100002, language_code="uk")
        await hills.send_command("start", "hills")
        [first] = await replies(hills)
        assert first.startswith(HILLS_UK), first
        # Hills offers uk and en only: a French phone gets the questionnaire's default (en).
        other = h.user(9100003, language_code="fr")
        await other.send_command("start", "hills")
        [first] = await replies(other)
        assert first.startswith(HILLS_EN), first
        await _press_at(other, 0)  # safety: yes; now /language lists the channel's languages
        await other.send_command("language")
        [menu] = await replies(other)
        labels = [label for row in other.bot_messages()[-1].buttons for label, _data in row]
        assert labels == ["English", "Українська", "Cancel"], (menu, labels)

        done = await _answer_and_send(river)
        assert "receipt code" in done[0] and done[0].endswith(RIVER_CLOSING), done
        done = await _answer_and_send(hills)
        assert "код відстеження" in done[0] and RIVER_CLOSING not in done[0], done
        rows = await list_reports(h.storage)
        assert len(rows) == 2
        by_channel: dict[str, str] = {}
        for row in rows:
            channel = await h.storage.reports.channel_of(row.report_id)
            assert channel is not None
            by_channel[channel] = row.report_id
        assert set(by_channel) == {"river", "hills"}

        river_report = await open_report(h.storage, by_channel["river"], [office.rita])
        assert river_report.document["channel"] == "river"
        assert river_report.document["language"] == "en"
        hills_report = await open_report(h.storage, by_channel["hills"], [office.hugo])
        assert hills_report.document["channel"] == "hills"
        assert hills_report.document["language"] == "uk"
        # Each questionnaire is the channel's own file: its hash is in the sealed report.
        assert river_report.document["questionnaire"]["sha256"] != (
            hills_report.document["questionnaire"]["sha256"])
        # The other channel's reviewer, and the default channel's, cannot open it.
        for report_id, strangers in ((by_channel["river"], [office.hugo, h.reviewer]),
                                     (by_channel["hills"], [office.rita, h.reviewer])):
            for stranger in strangers:
                with pytest.raises(crypto.DecryptionError):
                    await open_report(h.storage, report_id, [stranger])


async def test_each_channels_reports_are_told_in_its_own_chat_only(
    database_url: str, tmp_path: Path
) -> None:
    """River's report is told in river's reviewers' chat; hills set no chat, so its report is
    told nowhere, and never in the deployment's chat (the default channel's reviewers')."""
    office = Office(tmp_path)
    river_chat, deployment_chat = 9_100_777, 9_100_888

    async def setup(storage: Storage) -> None:
        await office.setup(storage)
        await set_channel(storage, "river", {"reviewers_chat_id": river_chat})

    async with running_harness(database_url, tmp_path / "data", setup=setup,
                               reviewers_chat_id=deployment_chat) as h:
        river_reviewers = h.user(river_chat, "River reviewers")
        default_reviewers = h.user(deployment_chat, "Default reviewers")
        hills = h.user(9100012, language_code="en")
        await hills.send_command("start", "hills")
        await replies(hills)
        await _answer_and_send(hills)
        river = h.user(9100011, language_code="en")
        await river.send_command("start", "river")
        await replies(river)
        await _answer_and_send(river)
        notice = await river_reviewers.next_bot_message(timeout=10)
        assert notice.text == "A new report arrived."
        await asyncio.sleep(1.0)  # a notice for hills would have been sent by now
        assert [m.text for m in river_reviewers.bot_messages()] == ["A new report arrived."]
        assert default_reviewers.bot_messages() == []


@pytest.mark.parametrize("slug", ["nosuch", "River", "river hills", "a" * 40, "../default"])
async def test_an_unknown_link_is_told_kindly_and_continues(
    slug: str, database_url: str, tmp_path: Path
) -> None:
    """A slug no channel has (or not a slug at all) gets a kind message in the witness's
    language, and the report goes on in the default channel: nothing lost."""
    office = Office(tmp_path)
    async with running_harness(database_url, tmp_path / "data", setup=office.setup) as h:
        witness = h.user(9200001, language_code="es")
        await witness.send_command("start", slug)
        notice, first = await replies(witness, 2)
        assert "enlace" in notice and "No se pierde nada" in notice, notice
        assert first.startswith("Antes de empezar"), first
        done = await _answer_and_send(witness)
        assert "código de seguimiento" in done[0], done
        [row] = await list_reports(h.storage)
        assert await h.storage.reports.channel_of(row.report_id) == "default"
        report = await open_report(h.storage, row.report_id, [h.reviewer])
        assert report.document["channel"] == "default"


async def test_the_chooser_lists_the_public_channels(database_url: str, tmp_path: Path) -> None:
    """With the chooser on, a plain /start asks which organisation; the choice is that
    channel's questionnaire and reviewers. A deep link skips the question."""
    office = Office(tmp_path)
    async with running_harness(database_url, tmp_path / "data", setup=office.setup,
                               channel_chooser=True) as h:
        witness = h.user(9300001, language_code="uk")
        await witness.send_command("start")
        [question] = await replies(witness)
        assert "організації" in question, question
        buttons = witness.bot_messages()[-1].buttons
        labels = [label for row in buttons for label, _data in row]
        # Public channels by slug, then Cancel; the link-only default channel is not listed.
        assert labels[:2] == ["Hills Defenders", "River Legal Aid"], labels
        assert all(data.count(".") == 1 for row in buttons for _label, data in row)
        # Typing instead of choosing: the question comes back, kindly.
        await witness.send_text("river please")
        [again] = await replies(witness)
        assert "кнопк" in again and "організації" in again, again
        [first] = await _press_at(witness, 0)  # Hills Defenders
        assert first.startswith(HILLS_UK), first
        done = await _answer_and_send(witness)
        assert "код відстеження" in done[0], done
        [row] = await list_reports(h.storage)
        assert await h.storage.reports.channel_of(row.report_id) == "hills"
        await open_report(h.storage, row.report_id, [office.hugo])

        linked = h.user(9300002, language_code="en")
        await linked.send_command("start", "river")
        [first] = await replies(linked)
        assert first.startswith(RIVER_EN), first


def test_a_closing_text_too_long_is_named(tmp_path: Path) -> None:
    """The questionnaire's `closing` is checked like a choice's reply: at most 1000 characters,
    in the default language at least; the loader names the line."""
    from bot.core import QuestionnaireError, load_questionnaire

    shipped = DEFAULT_QUESTIONNAIRE.read_text(encoding="utf-8")
    long = tmp_path / "long.toml"
    long.write_text(shipped.replace('default_language = "en"\n',
                                    f'default_language = "en"\nclosing.en = "{"x" * 1001}"\n'),
                    encoding="utf-8")
    with pytest.raises(QuestionnaireError, match="closing text is at most 1000"):
        load_questionnaire(long)
    fine = tmp_path / "fine.toml"
    fine.write_text(shipped.replace('default_language = "en"\n',
                                    'default_language = "en"\nclosing.en = "Bye"\n'),
                    encoding="utf-8")
    closing = load_questionnaire(fine).closing
    assert closing is not None and closing.get("uk") == "Bye"
    assert load_questionnaire(DEFAULT_QUESTIONNAIRE).closing is None


def _router(chooser: bool, public: tuple[str, ...]) -> ChannelConversations:
    from bot.core import Conversation, load_questionnaire
    from bot.i18n import translations

    questionnaire = load_questionnaire(DEFAULT_QUESTIONNAIRE)
    return ChannelConversations({
        slug: ChannelEntry(Conversation(questionnaire, translations),
                           slug.title() if slug in public else None)
        for slug in ("default", "river", "hills")
    }, chooser=chooser)


def test_the_core_keeps_a_drafts_channel_and_guards_the_menu() -> None:
    """Pure core: a draft stays in its channel whatever a plain /start says later; the
    chooser's buttons are one-prompt tokens (stale and forged ones are refused kindly); Cancel
    works."""
    router = _router(chooser=True, public=("river", "hills"))
    draft, effects = router.handle(None, Start("en", "river"))
    assert draft is not None and draft.channel == "river"
    draft, effects = router.handle(draft, Start("en"))
    assert draft is not None and draft.channel == "river"
    assert isinstance(effects[0], Reply) and effects[0].text.startswith("Welcome back")
    draft, effects = router.handle(draft, Start("en", "river"))
    assert draft is not None and draft.channel == "river"
    assert isinstance(effects[0], Reply) and effects[0].text.startswith("Welcome back")

    menu_draft, effects = router.handle(None, Start("en"))
    assert menu_draft is not None and menu_draft.phase is Phase.CHANNEL_MENU
    menu = effects[-1]
    assert isinstance(menu, Reply)
    assert [b.label for row in menu.buttons for b in row] == ["River", "Hills", "Cancel"]
    stale = menu.buttons[0][0].token
    menu_draft, effects = router.handle(menu_draft, Start("en"))  # a new prompt, a new nonce
    assert menu_draft is not None
    menu_draft, effects = router.handle(menu_draft, Press(stale))
    assert isinstance(effects[0], Reply) and "earlier question" in effects[0].text
    menu_draft, effects = router.handle(menu_draft, Press(f"{menu_draft.prompt_nonce}.9"))
    assert isinstance(effects[0], Reply) and "did not work" in effects[0].text
    assert menu_draft is not None
    chosen, _effects = router.handle(menu_draft, Press(f"{menu_draft.prompt_nonce}.1"))
    assert chosen is not None and chosen.channel == "hills" and chosen.phase is Phase.ASKING

    again, effects = router.handle(None, Start("en"))
    assert again is not None
    cancelled, effects = router.handle(again, Press(f"{again.prompt_nonce}.2"))
    assert cancelled is None and any(isinstance(e, DraftClosed) for e in effects)


def test_no_chooser_with_fewer_than_two_public_channels() -> None:
    """A question with one answer is not asked: a plain /start goes to the default channel."""
    for public in ((), ("river",)):
        draft, _effects = _router(chooser=True, public=public).handle(None, Start("en"))
        assert draft is not None and draft.channel == "default"
        assert draft.phase is Phase.ASKING
    draft, _effects = _router(chooser=False, public=("river", "hills")).handle(None, Start("en"))
    assert draft is not None and draft.channel == "default"
