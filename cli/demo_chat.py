"""The demo's witness chat: a scripted witness, or the person at the keyboard typing as one.

Both watch the queue, not the words of the messages: a new stored report ends the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import click

from review.queue import list_reports
from standin.client import FakeUser
from standin.server import BotApiStandIn
from storage import Storage

# A partner organisation's channel in the demo folder, reached by its deep link.
DEMO_PARTNER = "demo-partner"
# (action, argument): what the scripted witness does, one step at a time.
SCRIPT: list[tuple[str, str]] = [
    ("command", f"start {DEMO_PARTNER}"),
    ("press", "Yes, continue"),
    ("press", "Arrest or detention"),
    ("text", "Two people were taken from the market by men without uniforms."),
    ("press", "Skip"),
    ("press", "Yesterday"),
    ("text", "Central market, north entrance"),
    ("press", "Other people"),
    ("press", "Done"),
    ("text", "Four men in dark clothes, a white van without plates."),
    ("document", "scene-notes.txt"),
    ("press", "Done"),
    ("press", "I prefer not to say"),
    ("press", "No"),
    ("press", "Send"),
]


async def report_ids(storage: Storage) -> set[str]:
    return {summary.report_id for summary in await list_reports(storage)}



# How long the demo waits for the bot after the witness acts: after a prompt with buttons the
# bot waits for the witness; after a message without (such as "Sending…") more may follow.
_QUIET_AFTER_PROMPT = 0.7
_QUIET_AFTER_NOTICE = 3.0
_RECEIPT_WAIT = 30.0
_POLL = 0.1
_PROMPT = "  you> "


@dataclass
class DemoChat:
    """The witness's chat, watched through the queue: a new stored report ends the demo."""

    witness: FakeUser
    standin: BotApiStandIn
    storage: Storage
    reports_before: set[str]
    report_id: str | None = None
    buttons: list[tuple[str, str]] = field(default_factory=list)
    # deleteMessages calls seen when the witness last acted: the receipt follows a new one.
    _deletions: int = 0

    async def exchange(self, first_wait: float = 15.0) -> None:
        """Print the bot's answers to what the witness just did, until the bot waits for the
        witness again; notice a report stored meanwhile and print its receipt."""
        self._deletions = len(self.standin.calls_to("deleteMessages"))
        loop = asyncio.get_running_loop()
        quiet, last = first_wait, loop.time()
        while loop.time() - last < quiet:
            with contextlib.suppress(TimeoutError):
                message = await self.witness.next_bot_message(timeout=_POLL)
                self._print(message.text, message.buttons)
                last = loop.time()
                quiet = _QUIET_AFTER_PROMPT if message.buttons else _QUIET_AFTER_NOTICE
            if await self._stored():
                await self._receipt()
                return

    async def watch(
        self, seconds: float, lines: asyncio.Queue[str | None] | None = None
    ) -> str | None:
        """While waiting for the person (a typed line) or for up to `seconds`, keep printing
        what the bot sends and watching the queue: a report stored late (a slow machine) still
        ends the demo with its receipt. Returns the line typed, or None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            if lines is not None:
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(lines.get(), _POLL)
            else:
                await asyncio.sleep(_POLL)
            late = self.witness.take_bot_messages()
            if late:
                click.echo("")
            for message in late:
                self._print(message.text, message.buttons)
            if await self._stored():
                await self._receipt()
                return None
            if late and lines is not None:
                click.echo(_PROMPT, nl=False)
        return None

    async def _stored(self) -> bool:
        new = await report_ids(self.storage) - self.reports_before
        if new:
            self.report_id = new.pop()
        return self.report_id is not None

    async def _receipt(self) -> None:
        # After the commit the bot clears the chat, then sends the receipt: wait for a bot
        # message on the cleared screen, then print what is left to print.
        for _tick in range(int(_RECEIPT_WAIT / _POLL)):
            cleared = len(self.standin.calls_to("deleteMessages")) > self._deletions
            if cleared and self.witness.bot_messages():
                break
            await asyncio.sleep(_POLL)
        with contextlib.suppress(TimeoutError):
            while True:
                message = await self.witness.next_bot_message(timeout=_QUIET_AFTER_PROMPT)
                self._print(message.text, message.buttons)

    def _print(self, text: str, rows: list[list[tuple[str, str]]]) -> None:
        click.echo("     bot> " + text.replace("\n", "\n          "))
        buttons = [button for row in rows for button in row]
        if buttons:
            self.buttons = buttons
            labels = "  ".join(f"[{i}] {label}" for i, (label, _d) in enumerate(buttons, 1))
            click.echo(f"          {labels}")


async def scripted(chat: DemoChat) -> None:
    click.echo("\nA scripted witness now talks to the bot:\n")
    for number, (action, argument) in enumerate(SCRIPT):
        if number:
            await asyncio.sleep(0.2)
        await _say(chat.witness, action, argument)
        await chat.exchange()
        if chat.report_id is not None:
            return
    await chat.watch(_RECEIPT_WAIT)  # the last step was Send: sealing may take a while


async def _say(witness: FakeUser, action: str, argument: str) -> None:
    if action == "command":
        click.echo(f"  witness> /{argument}")
        command, _space, arguments = argument.partition(" ")
        await witness.send_command(command, arguments)
    elif action == "text":
        click.echo(f"  witness> {argument}")
        await witness.send_text(argument)
    elif action == "document":
        click.echo(f"  witness> [sends a file: {argument}]")
        await witness.send_document(b"Notes written at the scene (demo file).\n",
                                    file_name=argument, mime_type="text/plain")
    elif action == "press":
        click.echo(f"  witness> [presses: {argument}]")
        await witness.press(_button(witness, argument))


def _button(witness: FakeUser, label: str) -> str:
    for message in reversed(witness.bot_messages()):
        for row in message.buttons:
            for button_label, data in row:
                if button_label == label:
                    return data
    raise click.ClickException(f"demo script: no button {label!r} on screen")


def _typed_lines() -> asyncio.Queue[str | None]:
    """Lines typed on standard input, read by a daemon thread so the demo can go on watching
    the bot (and end on a late receipt) while the person types. os.read, not sys.stdin: a
    thread left blocked in sys.stdin would hold its lock when the interpreter exits."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def hand_over(line: str | None) -> bool:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        except RuntimeError:  # the demo has ended
            return False
        return True

    def read() -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(0, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                hand_over(None)
                return
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                if not hand_over(line.decode("utf-8", "replace")):
                    return

    threading.Thread(target=read, name="demo-input", daemon=True).start()
    return queue


async def typed(chat: DemoChat) -> None:
    click.echo("\nYou are the witness. Type a message and press Enter. A number presses that "
               "button; /file PATH sends a file; /location LAT LON shares a place; "
               f"/start {DEMO_PARTNER} follows a partner organisation's link; /quit ends.\n")
    witness = chat.witness
    lines = _typed_lines()
    await witness.send_command("start")
    await chat.exchange()
    while chat.report_id is None:
        click.echo(_PROMPT, nl=False)
        typed = await chat.watch(math.inf, lines)
        if chat.report_id is not None:
            return
        line = "/quit" if typed is None else typed.strip()
        if not os.isatty(0):  # a terminal shows what was typed; a pipe does not
            click.echo(line)
        if line == "/quit":
            return
        if line.isdigit() and 1 <= int(line) <= len(chat.buttons):
            await witness.press(chat.buttons[int(line) - 1][1])
        elif line.startswith("/file "):
            path = Path(line.removeprefix("/file ").strip()).expanduser()
            if not path.is_file():
                click.echo("  (no such file)")
                continue
            await witness.send_document(path.read_bytes(), file_name=path.name,
                                        mime_type="application/octet-stream")
        elif line.startswith("/location "):
            try:
                latitude, longitude = (float(v) for v in line.split()[1:3])
            except ValueError:
                click.echo("  (usage: /location 50.45 30.52)")
                continue
            await witness.send_location(latitude, longitude)
        elif line.startswith("/"):
            await witness.send_command(line[1:])
        elif line:
            await witness.send_text(line)
        else:
            continue
        await chat.exchange(first_wait=5.0)
