"""A witness's report in progress: answers and where the conversation stands. Memory only."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field


class Phase(enum.StrEnum):
    ASKING = "asking"
    SUMMARY = "summary"
    EDIT_MENU = "edit_menu"
    LANGUAGE_MENU = "language_menu"
    SUBMITTING = "submitting"
    # The first question listing the public channels (bot/core/channels.py).
    CHANNEL_MENU = "channel_menu"
    # Cancel was pressed: "Delete this report?" waits for Delete or Keep; nothing is gone yet.
    CONFIRM_CANCEL = "confirm_cancel"
    # A deep link to another channel came while this report was open: continue it, or start
    # one for that channel (bot/core/channels.py)?
    CONFIRM_SWITCH = "confirm_switch"


@dataclass(frozen=True)
class MediaRef:
    """An attachment the witness sent. `handle` is the adapter's opaque way to fetch it later."""

    kind: str  # photo, video, voice, audio, document
    handle: str
    size: int | None
    file_name: str | None = None
    mime_type: str | None = None
    caption: str | None = None


@dataclass(frozen=True)
class ChoiceAnswer:
    choice_id: str


@dataclass(frozen=True)
class MultiChoiceAnswer:
    choice_ids: tuple[str, ...]


@dataclass(frozen=True)
class TextAnswer:
    text: str


@dataclass(frozen=True)
class DateAnswer:
    day: dt.date | None  # None: the witness does not know
    time: dt.time | None = None
    # The digits the witness typed it in (bot/core/numerals.py): shown back in them.
    digits: str = "0"
    # "solar_hijri" when the witness typed it in that calendar: shown back in it too.
    calendar: str = "gregorian"


@dataclass(frozen=True)
class PlaceAnswer:
    text: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    # True when the witness chose to send the place rounded to about a kilometre.
    approximate: bool = False


@dataclass(frozen=True)
class MediaAnswer:
    files: tuple[MediaRef, ...] = ()
    # Words the witness typed at the files step ("here is my photo"), kept with the files.
    note: str | None = None


@dataclass(frozen=True)
class Skipped:
    pass


Answer = (
    ChoiceAnswer | MultiChoiceAnswer | TextAnswer | DateAnswer | PlaceAnswer | MediaAnswer | Skipped
)


@dataclass
class Draft:
    draft_id: str
    language: str
    phase: Phase = Phase.ASKING
    current: str | None = None
    answers: dict[str, Answer] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    # Answering from the edit menu returns to the summary instead of the next question.
    editing: bool = False
    # Buttons carry "<prompt nonce>.<index>"; the nonce changes with every new question, so a
    # button from an earlier question (or a forged one) can be told apart and refused kindly.
    prompt_nonce: str = ""
    prompt_actions: tuple[Action, ...] = ()
    media_notice_shown: bool = False
    # Whether the witness was told, once, that a photo or video sent as such is recompressed by
    # Telegram and that sending it as a file keeps the original (issue 10, item 5).
    fidelity_notice_shown: bool = False
    # A shared location waiting for the witness to choose exact or approximate.
    pending_location: tuple[float, float] | None = None
    # Choices ticked so far at a multiple-choice question.
    ticked: tuple[str, ...] = ()
    # Where to return after the language menu.
    resume_phase: Phase = Phase.ASKING
    # The channel (partner organisation) the witness reached, by deep link or first question;
    # its questionnaire drives the conversation and its reviewers receive the report.
    channel: str = "default"
    # Where to return when the witness keeps the report (Cancel) or the open one (a deep link
    # to another channel), and that other channel's slug while the witness decides.
    interrupted_phase: Phase = Phase.ASKING
    switch_to: str | None = None


@dataclass(frozen=True)
class Action:
    kind: str
    value: str = ""
