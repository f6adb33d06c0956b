"""`intake demo`: the whole path on one machine, with no Telegram and no real keys.

A Bot API stand-in runs on 127.0.0.1, the real bot talks to it, a scripted (or typed) witness
reports an incident, and a throwaway reviewer key opens the sealed result. Everything it creates
is labelled as a demo, and by default lives in a temporary folder that is deleted afterwards;
with --data-dir it is kept, and a later run on the same folder reuses the demo key.

Besides the deployment's own (default) channel, the demo folder has a partner organisation's
channel, `demo-partner`, with its own throwaway reviewer key: the scripted witness follows that
partner's link (`/start demo-partner`), so the report is sealed to the partner's key only, and
the demo opens it with that key.

The demo ends when a report is stored (it watches the queue, not the words of the messages), or
when the person typing leaves with /quit.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, load_questionnaire
from bot.telegram.runtime import BotOptions, running_bot
from cli.logging_policy import configure_logging
from crypto.custody import custody_public_key
from review.audit import AuditTrail
from review.channels import add_channel
from review.queue import list_reports, open_report
from review.recipients import add_reviewer
from review.render import render_report
from standin.client import FakeUser
from standin.server import BotApiStandIn
from storage import DEFAULT_CHANNEL, ChannelRecord, Storage, default_sqlite_url
from storage.server_keys import ServerKeys, load_or_create_server_keys

DEMO_SECRET = "DEMO-not-a-real-token-0000000000"  # noqa: S105 - a public placeholder


def demo_token() -> str:
    """A placeholder token with a fresh bot id. The bot recognises a redelivered update by bot
    id and update id, and every stand-in counts updates from the same start, so a second demo
    on a kept --data-dir needs another bot id, or its Send would look like the first run's."""
    return f"{secrets.randbelow(9 * 10**8) + 10**8}:{DEMO_SECRET}"

BANNER = """\
==================================================================================
  DEMO MODE. Nothing here talks to Telegram. A stand-in for the Telegram Bot API
  runs on 127.0.0.1, a pretend witness reports an incident to the real bot through
  a partner organisation's link, and that partner's THROWAWAY reviewer key, created
  just now, opens the sealed report at the end.
  Never use the demo keys or the demo data for real reports.
=================================================================================="""

# A partner organisation's channel in the demo folder, reached by its deep link.
DEMO_PARTNER = "demo-partner"
# (reviewer name, key file, channel): one throwaway key per channel (a key is registered once).
_DEMO_KEYS = (
    ("demo-reviewer", "DEMO-reviewer-key.txt", DEFAULT_CHANNEL),
    ("demo-partner-reviewer", "DEMO-partner-reviewer-key.txt", DEMO_PARTNER),
)

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


@contextlib.contextmanager
def _demo_folder(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        yield data_dir
        return
    with tempfile.TemporaryDirectory(prefix="intake-demo-") as folder:
        yield Path(folder)


async def run_demo(*, interactive: bool, data_dir: Path | None) -> None:
    click.echo(BANNER)
    token = demo_token()
    configure_logging("WARNING", secrets=[token])
    with _demo_folder(data_dir) as folder:
        storage = await Storage.open(default_sqlite_url(folder), folder / "blobs")
        try:
            keys = load_or_create_server_keys(folder)
            identities = await _demo_reviewers(storage, keys, folder)
            questionnaire = load_questionnaire(DEFAULT_QUESTIONNAIRE)
            async with BotApiStandIn(token) as standin:
                options = BotOptions(token, standin.root_url, poll_timeout=1)
                async with running_bot(options, storage, keys, questionnaire):
                    witness = standin.user(424242, "Demo Witness", language_code="en")
                    chat = _DemoChat(witness, standin, storage, await _report_ids(storage))
                    if interactive:
                        await _typed(chat)
                    else:
                        await _scripted(chat)
                    if chat.report_id is not None:
                        left = len(witness.visible_messages())
                        click.echo(f"\n(The bot then deleted the conversation from the witness's "
                                   f"chat: {left} message(s) are left on the phone: the "
                                   "receipt.)")
                    else:
                        click.echo("\n(The witness stopped before Send: nothing was sent, so "
                                   "there is no report to open.)")
            if chat.report_id is not None:
                await _show_report(storage, identities, custody_public_key(keys.custody_key),
                                   folder, chat.report_id)
        finally:
            await storage.close()


async def _demo_reviewers(
    storage: Storage, keys: ServerKeys, folder: Path
) -> list[crypto.X25519Identity]:
    """The partner channel (made once, audited like `intake channel add`) and each channel's
    throwaway reviewer key."""
    audit = AuditTrail(storage.audit, keys.custody_key)
    if await storage.channels.get(DEMO_PARTNER) is None:
        partner = ChannelRecord(slug=DEMO_PARTNER, name="Demo partner (throwaway)")
        await add_channel(storage, partner, audit=audit, actor="demo")
    return [await _demo_reviewer(storage, audit, folder / key_file, name, channel)
            for name, key_file, channel in _DEMO_KEYS]


async def _demo_reviewer(
    storage: Storage, audit: AuditTrail, key_file: Path, base_name: str, channel: str
) -> crypto.X25519Identity:
    """A throwaway reviewer key: reused from the folder when a kept demo runs again, and
    registered (in the audit trail, like `intake reviewer add`) only when it is not yet."""
    registered = await storage.recipients.registered()
    identity = _read_demo_key(key_file)
    if identity is not None:
        same = [r for r in registered if r.recipient == str(identity.recipient)]
        if same and same[0].active:
            return identity
        if same:  # removed since: reports sealed now would not be opened by it
            identity = None
    if identity is None:
        identity = crypto.generate_identity()
        _write_private(key_file, f"# DEMO reviewer key: throwaway, never use it for real "
                                 f"reports\n# public key: {identity.recipient}\n{identity}\n")
    taken = {r.name for r in registered}
    name = base_name
    if name in taken:
        name = f"{base_name}-{crypto.key_id(identity.recipient)[:8]}"
    await add_reviewer(storage, name, str(identity.recipient), audit=audit, actor="demo",
                       channel=channel)
    return identity


def _read_demo_key(path: Path) -> crypto.X25519Identity | None:
    try:
        identities = crypto.parse_identities(path.read_text(encoding="utf-8"))
    except (OSError, crypto.InvalidKeyError):
        return None
    found = [i for i in identities if isinstance(i, crypto.X25519Identity)]
    return found[0] if found else None


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


async def _report_ids(storage: Storage) -> set[str]:
    return {summary.report_id for summary in await list_reports(storage)}


# How long the demo waits for the bot after the witness acts: after a prompt with buttons the
# bot waits for the witness; after a message without (such as "Sending…") more may follow.
_QUIET_AFTER_PROMPT = 0.7
_QUIET_AFTER_NOTICE = 3.0
_RECEIPT_WAIT = 30.0
_POLL = 0.1
_PROMPT = "  you> "


@dataclass
class _DemoChat:
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
        new = await _report_ids(self.storage) - self.reports_before
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


async def _scripted(chat: _DemoChat) -> None:
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


async def _typed(chat: _DemoChat) -> None:
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


async def _show_report(
    storage: Storage,
    identities: list[crypto.X25519Identity],
    custody_public: bytes,
    folder: Path,
    report_id: str,
) -> None:
    summaries = await list_reports(storage)
    click.echo("\nThe server's queue holds only ciphertext and minimal metadata:")
    for s in summaries:
        click.echo(f"  {s.report_id}  received {s.received_day}  {s.status}  {s.item_count} items")
    channel = await storage.reports.channel_of(report_id) or DEFAULT_CHANNEL
    key_file = next((folder / file for _n, file, slug in _DEMO_KEYS if slug == channel), None)
    if key_file is None:
        # A channel made in a kept demo folder with `intake channel add`: sealed to its own
        # reviewers' keys, which the demo does not have.
        click.echo(f"\nThe report went to the channel {channel!r}; it is sealed to that "
                   "channel's reviewers only, and the demo has none of their keys, so it cannot "
                   "open it. Its reviewers open it with `intake review show`.")
        click.echo("\nEnd of the demo.")
        return
    click.echo(f"\nThe report went to the channel {channel!r}. Its reviewer opens it on their "
               f"own machine with that channel's DEMO key ({key_file}):\n")
    report = await open_report(storage, report_id, list(identities), custody_public)
    click.echo(render_report(report))
    click.echo("\nEnd of the demo.")
