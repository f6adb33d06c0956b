"""The chat state and outbox codec: what one update commits, the next one reads back whole."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.core import Button, Draft, MediaAnswer, MediaRef, Phase
from bot.core.chat import (
    ChatState,
    CodecError,
    DeleteMessages,
    DeleteTrail,
    SendText,
    decode_outgoing,
    decode_state,
    encode,
)
from bot.core.draft import (
    Action,
    ChoiceAnswer,
    DateAnswer,
    MultiChoiceAnswer,
    PlaceAnswer,
    Skipped,
    TextAnswer,
)
from bot.core.status import StatusPhase, StatusSession


def _full_state() -> ChatState:
    draft = Draft(
        draft_id="d1",
        language="uk",
        phase=Phase.SUMMARY,
        current="what",
        answers={
            "kind": ChoiceAnswer("detention"),
            "who": MultiChoiceAnswer(("me", "others")),
            "what": TextAnswer("Текст з \"лапками\" та ~t ключем"),
            "when": DateAnswer(dt.date(2026, 11, 2), dt.time(14, 30)),
            "unknown_day": DateAnswer(None),
            "where": PlaceAnswer(latitude=50.45, longitude=30.52, approximate=True),
            "files": MediaAnswer((MediaRef("photo", "AgAD-file", 1234, None, "image/jpeg",
                                           "a caption"),)),
            "skipped": Skipped(),
        },
        history=["kind", "what"],
        prompt_nonce="ab12",
        prompt_actions=(Action("choose", "x"), Action("back")),
        pending_location=(1.5, 2.5),
        ticked=("me",),
    )
    status = StatusSession(language="ar", phase=StatusPhase.ADDING, report_id="r" * 32,
                           code="1234 5678", texts=["more"], attempts=2)
    return ChatState(draft=draft, status=status, trail=[5, 6, 9], last_active=1234.5)


def test_state_round_trips_every_answer_kind() -> None:
    """Every field of a draft and a /status session comes back equal, enums and all."""
    state = _full_state()
    back = decode_state(encode(state))
    assert back == state
    assert back.draft is not None and back.draft.phase is Phase.SUMMARY
    assert isinstance(back.draft.answers["who"], MultiChoiceAnswer)
    assert back.draft.prompt_actions == (Action("choose", "x"), Action("back"))


def test_outgoing_round_trips() -> None:
    """Each outbox message kind survives encoding, buttons included."""
    for message in (
        SendText(42, "Hello", ((Button("Yes", "n.0"), Button("No", "n.1")),), keep=True),
        DeleteTrail(42),
        DeleteMessages(42, (1, 2, 3)),
    ):
        assert decode_outgoing(encode(message)) == message


def test_unknown_fields_are_ignored_and_missing_ones_default() -> None:
    """A state written by another version still loads: extra fields dropped, new ones default."""
    data = encode(ChatState(trail=[1])).replace(b'"trail"', b'"old_field":1,"trail"')
    assert decode_state(data).trail == [1]
    assert decode_state(b'{"~d":"ChatState"}') == ChatState()


@pytest.mark.parametrize("data", [b"", b"not json", b'{"~d":"Nope"}', b'{"~x":1}', b"[1]"])
def test_unreadable_state_raises_one_error(data: bytes) -> None:
    """Garbage or an unknown type gives CodecError, never another exception."""
    with pytest.raises(CodecError):
        decode_state(data)


def test_exact_times_cannot_be_stored() -> None:
    """A datetime in the state would be an exact time at rest (sealed, but still): refused."""
    with pytest.raises(TypeError):
        encode(SendText(1, dt.datetime.now(dt.UTC)))  # type: ignore[arg-type]
