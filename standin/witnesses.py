"""Scripted witnesses: fake users who report through the whole questionnaire, like a person.

A :class:`ScriptedWitness` drives one :class:`~standin.client.FakeUser`: it reads each bot
message, answers what it asks (buttons by label, text answers carrying a canary unique to the
witness and the question, a document with a canary name and content at the files step, Done,
Send at the summary) and records what happened in a :class:`WitnessRecord`. It is built to
watch a bot that fails: it waits patiently for an answer (the bot may be down and restarting),
never repeats an action the stand-in already took, ignores a message that arrives twice, and
answers a question again only when the bot really asks it again::

    script = WitnessScript.from_toml(Path("bot/questionnaire.toml"))
    records = await run_witnesses(standin, 20, script=script, pause=(1.0, 2.0))
    assert all(r.receipt_code and not r.started_over and not r.misfiled for r in records)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from dataclasses import dataclass, field

from standin.client import FakeUser
from standin.models import BotMessage
from standin.server import BotApiStandIn
from standin.witness_script import (
    TICK,
    Reading,
    ScriptQuestion,
    Seen,
    WitnessScript,
    read_message,
    summary_lines,
)

_MAX_MESSAGES = 1000  # a bot that talks forever without getting anywhere has failed too


@dataclass
class WitnessRecord:
    """What one scripted witness did and saw."""

    user_id: int
    #: The text answer (a canary) given to each text or place question, by question id.
    canaries: dict[str, str] = field(default_factory=dict)
    #: The choice id picked for each choice or multi question, by question id.
    choices: dict[str, str] = field(default_factory=dict)
    #: The document sent at the files step (both carry a canary), or None.
    file_name: str | None = None
    file_content: bytes | None = None
    #: From the "Received" message: 20 digits in groups of four; None if it never came.
    receipt_code: str | None = None
    #: Every bot message (sent or edited), in the order the witness received them.
    messages: list[BotMessage] = field(default_factory=list)
    #: What the witness did, in order ("/start", "press:Yes, continue", "text:what", ...).
    actions: list[str] = field(default_factory=list)
    #: Before each action after the first, the seconds it paused as a person reads and types
    #: (not its waits for the bot to be quiet): a bench replays them for another bot.
    pauses: list[float] = field(default_factory=list)
    #: The bot asked the first question again after the witness had answered it.
    started_over: bool = False
    #: Questions asked again after the witness had answered them, in order.
    repeated_questions: list[str] = field(default_factory=list)
    #: ``(question id, label)``: the question's canary shown under another question's label.
    misfiled: list[tuple[str, str]] = field(default_factory=list)
    #: Questions whose canary was not shown under their label in the summary.
    missing_from_summary: list[str] = field(default_factory=list)
    #: How many summaries were checked (one per Send pressed).
    summaries_checked: int = 0
    #: Why the witness gave up (e.g. the bot stayed silent), or None.
    stalled: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the witness got a receipt code."""
        return self.receipt_code is not None

    @property
    def texts(self) -> list[str]:
        """The texts of :attr:`messages`."""
        return [m.text for m in self.messages]

    def all_canaries(self) -> list[str]:
        """Every canary this witness sent: text answers, then file name and content."""
        found = list(self.canaries.values())
        if self.file_name is not None and self.file_content is not None:
            found += [self.file_name, self.file_content.decode()]
        return found


def _content(message: BotMessage) -> tuple[str, tuple[tuple[str, str], ...]]:
    return message.text, tuple(button for row in message.buttons for button in row)


class ScriptedWitness:
    """One witness reporting through the questionnaire; :meth:`run` returns the record.

    ``pause`` is a (low, high) range of seconds waited before each action, like a person
    reading and typing (seeded per witness); ``patience`` is how long the witness waits for
    the bot's next message before giving up (the bot may be restarting meanwhile). Before
    doing anything a second time (answering a question asked again, pressing Send again) it
    waits until the bot has been quiet for ``settle`` seconds, acting on the newest message.
    """

    def __init__(
        self,
        user: FakeUser,
        script: WitnessScript,
        *,
        tag: str | None = None,
        seed: int = 0,
        pause: tuple[float, float] = (0.0, 0.0),
        patience: float = 60.0,
        settle: float = 3.0,
        attachment: bool = True,
    ) -> None:
        self.user = user
        self.settle = settle
        self.script = script
        self.pause = pause
        self.patience = patience
        self.attachment = attachment
        self.record = WitnessRecord(user.user_id)
        self._random = random.Random(f"{seed}:{user.user_id}")  # noqa: S311 (reproducible)
        self._tag = tag or f"w{user.user_id}"
        self._seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        self._answered: set[str] = set()
        self._file_sent = False
        self._done_pressed = False
        self._start_sent = False
        self._ticked: set[str] = set()
        self._send_pressed = False
        self._acted = False  # an action was made (the pauses are counted from the first)
        self._paused = 0.0  # seconds paused since the last action
        self._after_notice = False  # the previous message was a new notice
        self._last_key: tuple[str, tuple[tuple[str, str], ...]] | None = None
        # Notices read so far; forgotten at each Send (see _choose).
        self._notices: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

    async def run(self) -> WitnessRecord:
        """Report from /start to the receipt code, or until the bot stays silent too long."""
        record = self.record
        await self._act("/start", self.user.send_command("start"))
        self._start_sent = True
        while record.receipt_code is None and record.stalled is None:
            try:
                first = await self.user.next_bot_message(timeout=self.patience)
            except TimeoutError:
                last = record.actions[-1] if record.actions else "nothing"
                record.stalled = f"no bot message for {self.patience} s after {last}"
                break
            await self._pause()
            batch = [first, *self.user.take_bot_messages()]  # a person reads the whole screen
            target = self._choose(batch)
            while target is not None and self._repeats(*target):
                # Doing something again: first make sure the bot has no newer message, since
                # a re-prompt may have been sent before the bot read our earlier answer.
                try:
                    more = await self.user.next_bot_message(timeout=self.settle)
                except TimeoutError:
                    break
                target = self._choose([more, *self.user.take_bot_messages()]) or target
                if record.receipt_code is not None:
                    break
            if record.receipt_code is not None:
                break
            try:
                if target is not None:
                    await self._respond(*target)
            except ValueError as mismatch:  # a button the script needs is not there
                record.stalled = str(mismatch)
            if len(record.messages) > _MAX_MESSAGES:
                record.stalled = f"more than {_MAX_MESSAGES} bot messages without a receipt"
        return record

    # -- reading ---------------------------------------------------------------------------

    def _choose(self, batch: list[BotMessage]) -> tuple[BotMessage, Reading] | None:
        """The newest message in the batch that asks something new (None: keep waiting).

        A message whose text and buttons equal one already seen is a second delivery and is
        ignored, unless a new notice came just before it (the bot re-asking on purpose, as in
        "Welcome back" followed by the same question; a second copy of that notice straight
        after the first does not undo it). Notices are forgotten each time Send is pressed: a
        Send that fails again is answered in the very words of the first failure ("Sending…" if
        sealing was slow, "one of your files could not be fetched", the same summary), and that
        answer is new, not a second delivery of the old one.
        """
        chosen: tuple[BotMessage, Reading] | None = None
        for message in batch:
            self.record.messages.append(message)
            reading = read_message(self.script, message)
            if reading.seen is Seen.RECEIPT:
                self.record.receipt_code = reading.receipt_code
                return None
            key = _content(message)
            fresh = key not in self._seen
            self._seen.add(key)
            after_notice = self._after_notice
            if fresh or key != self._last_key:
                # A second copy straight after the first (a send retried after a dropped
                # connection) changes nothing: "Sorry…", "Sorry…", summary is still a re-ask.
                self._after_notice = fresh and reading.seen is Seen.OTHER
            self._last_key = key
            if reading.seen is Seen.OTHER:
                self._notices.add(key)
            if not fresh and not after_notice:
                continue
            wanted = (Seen.PROMPT, Seen.SUMMARY, Seen.FILES_RECEIVED)
            if reading.seen in wanted or (
                reading.seen is Seen.START_AGAIN and not self._start_sent
            ):
                chosen = (message, reading)
        return chosen

    def _repeats(self, message: BotMessage, reading: Reading) -> bool:
        """Whether answering this message would do something the witness did already.

        Being told to send /start counts too: a notice that merely mentions /start is
        normally followed by a question, which then wins.
        """
        if reading.seen is Seen.START_AGAIN:
            return True
        if reading.seen is Seen.SUMMARY:
            return self._send_pressed
        question = reading.question
        if reading.seen is not Seen.PROMPT or question is None:
            return False
        if question.id in self._answered:
            return True
        if question.type == "multi" and question.id in self._ticked:
            label = question.choice_label(self._pick(question))
            return TICK + label not in message.button_labels
        return question.type == "media" and self._file_sent

    # -- acting ----------------------------------------------------------------------------

    async def _respond(self, message: BotMessage, reading: Reading) -> None:
        if reading.seen is Seen.START_AGAIN:
            await self._act("/start", self.user.send_command("start"))
            self._start_sent = True
            # A new conversation: its questions may look exactly like the first time's.
            self._seen.clear()
            return
        self._start_sent = False  # a prompt came: a later "send /start" is a new request
        if reading.seen is Seen.SUMMARY:
            self._check_summary(message)
            if await self._press(message, self.script.buttons.send, fallback_first=True):
                self._send_pressed = True
                self._seen -= self._notices
                self._notices.clear()
            return
        question = reading.question
        assert question is not None
        if reading.seen is Seen.FILES_RECEIVED:
            if await self._press(message, self.script.buttons.done):
                self._done_pressed = True
                self._answered.add(question.id)
            return
        if question.id in self._answered:
            self.record.repeated_questions.append(question.id)
            if question.id == self.script.questions[0].id:
                self.record.started_over = True
        await self._answer(question, message)

    async def _answer(self, question: ScriptQuestion, message: BotMessage) -> None:
        buttons = self.script.buttons
        kind = question.type
        done = True
        if kind == "consent":
            done = await self._press(message, buttons.consent, fallback_first=True)
        elif kind == "choice":
            done = await self._press(message, question.choice_label(self._pick(question)))
        elif kind == "multi":
            label = question.choice_label(self._pick(question))
            if TICK + label in message.button_labels:
                done = await self._press(message, buttons.done)
            else:
                if await self._press(message, label):
                    self._ticked.add(question.id)
                return  # answered only once Done is pressed
        elif kind == "date":
            done = await self._press(message, buttons.today, fallback_first=True)
        elif kind in ("text", "place"):
            canary = self.record.canaries.setdefault(question.id, self._canary(question.id))
            await self._act(f"text:{question.id}", self.user.send_text(canary))
        elif kind == "media":
            await self._files_step(question, message)
            return
        else:
            raise ValueError(f"a scripted witness cannot answer a {kind!r} question")
        if done:
            self._answered.add(question.id)

    async def _files_step(self, question: ScriptQuestion, message: BotMessage) -> None:
        buttons = self.script.buttons
        if not self.attachment:
            pressed = await self._press(message, buttons.skip)
        elif self._file_sent and not self._done_pressed:
            pressed = await self._press(message, buttons.done)  # e.g. asked after a restart
        else:
            # Nothing sent yet, or Done was pressed and the bot asks again: it has no file.
            await self._send_file()
            return
        if pressed:
            self._done_pressed = True
            self._answered.add(question.id)

    async def _send_file(self) -> None:
        record = self.record
        if record.file_name is None or record.file_content is None:
            canary = self._canary("file")
            record.file_name, record.file_content = f"{canary}.txt", f"{canary} content".encode()
        await self._act(
            "document",
            self.user.send_document(
                record.file_content, file_name=record.file_name, mime_type="text/plain"
            ),
        )
        self._file_sent, self._done_pressed = True, False

    def _pick(self, question: ScriptQuestion) -> str:
        if question.id not in self.record.choices:
            self.record.choices[question.id] = self._random.choice(question.choices)[0]
        return self.record.choices[question.id]

    def _canary(self, question_id: str) -> str:
        return f"canary-{self._tag}-{question_id}-{self._random.getrandbits(40):010x}"

    async def _press(
        self, message: BotMessage, label: str, *, fallback_first: bool = False
    ) -> bool:
        """Press a button of this message; ``False`` if it is no longer there."""
        data = next((d for row in message.buttons for text, d in row if text == label), None)
        if data is None and fallback_first and message.callback_data:
            data = message.callback_data[0]
        if data is None:
            raise ValueError(f"no button {label!r} on the bot's message: {message.button_labels}")
        self._acting()
        try:
            await self.user.press(data, message_id=message.message_id)
        except ValueError:
            # The message was deleted or changed meanwhile; wait for what the bot says next.
            self.record.actions.append(f"press-impossible:{label}")
            return False
        self.record.actions.append(f"press:{label}")
        return True

    async def _act(self, description: str, action: Awaitable[object]) -> None:
        self._acting()
        self.record.actions.append(description)
        await action

    def _acting(self) -> None:
        if self._acted:
            self.record.pauses.append(self._paused)
        self._acted, self._paused = True, 0.0

    async def _pause(self) -> None:
        low, high = self.pause
        if high > 0:
            seconds = self._random.uniform(low, high)
            self._paused += seconds
            await asyncio.sleep(seconds)

    def _check_summary(self, message: BotMessage) -> None:
        """Is each canary shown under the label of the question it answered, and only there?"""
        record = self.record
        record.summaries_checked += 1
        lines = summary_lines(message.text)
        for question_id, canary in record.canaries.items():
            label = self.script.question(question_id).label
            for shown_label, answer in lines:
                if canary in answer and shown_label != label:
                    record.misfiled.append((question_id, shown_label))
            if not any(canary in answer for shown, answer in lines if shown == label):
                record.missing_from_summary.append(question_id)


async def run_witnesses(
    standin: BotApiStandIn,
    count: int,
    *,
    script: WitnessScript,
    first_user_id: int = 710_001,
    seed: int = 0,
    pause: tuple[float, float] = (0.0, 0.0),
    patience: float = 60.0,
    settle: float = 3.0,
    attachment: bool = True,
) -> list[WitnessRecord]:
    """Run ``count`` scripted witnesses at once (user ids from ``first_user_id``)."""
    witnesses = [
        ScriptedWitness(
            standin.user(first_user_id + number, f"Witness {number}"),
            script,
            seed=seed,
            pause=pause,
            patience=patience,
            settle=settle,
            attachment=attachment,
        )
        for number in range(count)
    ]
    return list(await asyncio.gather(*(w.run() for w in witnesses)))
