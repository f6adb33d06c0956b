"""`intake demo`: the whole path on one machine, with no Telegram and no real keys.

A Bot API stand-in runs on 127.0.0.1, the real bot talks to it, a scripted (or typed) witness
reports an incident, and a throwaway reviewer key opens the sealed result. Everything it creates
is labelled as a demo, and by default lives in a temporary folder that is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, load_questionnaire
from bot.telegram.runtime import BotOptions, running_bot
from cli.logging_policy import configure_logging
from crypto.custody import custody_public_key
from review.queue import list_reports, open_report
from review.recipients import add_reviewer
from review.render import render_report
from standin.client import FakeUser
from standin.server import BotApiStandIn
from storage import Storage, default_sqlite_url
from storage.server_keys import load_or_create_server_keys

DEMO_TOKEN = "123456:DEMO-not-a-real-token-0000000000"  # noqa: S105 - a public placeholder
BANNER = """\
==================================================================================
  DEMO MODE. Nothing here talks to Telegram. A stand-in for the Telegram Bot API
  runs on 127.0.0.1, a pretend witness reports an incident to the real bot, and a
  THROWAWAY reviewer key, created just now, opens the sealed report at the end.
  Never use the demo key or the demo data for real reports.
=================================================================================="""

# (action, argument): what the scripted witness does, one step at a time.
SCRIPT: list[tuple[str, str]] = [
    ("command", "start"),
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
    configure_logging("WARNING", secrets=[DEMO_TOKEN])
    with _demo_folder(data_dir) as folder:
        storage = await Storage.open(default_sqlite_url(folder), folder / "blobs")
        try:
            identity = crypto.generate_identity()
            key_file = folder / "DEMO-reviewer-key.txt"
            _write_private(key_file, f"# DEMO reviewer key: throwaway, never use it for real "
                                     f"reports\n# public key: {identity.recipient}\n{identity}\n")
            await add_reviewer(storage, "demo-reviewer", str(identity.recipient))
            keys = load_or_create_server_keys(folder)
            questionnaire = load_questionnaire(DEFAULT_QUESTIONNAIRE)
            async with BotApiStandIn(DEMO_TOKEN) as standin:
                options = BotOptions(DEMO_TOKEN, standin.root_url, poll_timeout=1)
                async with running_bot(options, storage, keys, questionnaire):
                    witness = standin.user(424242, "Demo Witness", language_code="en")
                    if interactive:
                        await _typed(witness)
                    else:
                        await _scripted(witness)
                    deleted = len(standin.calls_to("deleteMessages"))
                    left = len(witness.visible_messages())
                    if deleted:
                        click.echo(f"\n(The bot then deleted the conversation from the witness's "
                                   f"chat: {left} message(s) are left on the phone, the receipt.)")
            await _show_queue(storage, identity, custody_public_key(keys.custody_key), folder)
        finally:
            await storage.close()


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


async def _scripted(witness: FakeUser) -> None:
    click.echo("\nA scripted witness now talks to the bot:\n")
    await _say(witness, "command", "start")
    for action, argument in SCRIPT[1:]:
        await asyncio.sleep(0.2)
        await _say(witness, action, argument)


async def _say(witness: FakeUser, action: str, argument: str) -> None:
    if action == "command":
        click.echo(f"  witness> /{argument}")
        await witness.send_command(argument)
    elif action == "text":
        click.echo(f"  witness> {argument}")
        await witness.send_text(argument)
    elif action == "document":
        click.echo(f"  witness> [sends a file: {argument}]")
        await witness.send_document(b"Notes written at the scene (demo file).\n",
                                    file_name=argument, mime_type="text/plain")
    elif action == "press":
        click.echo(f"  witness> [presses: {argument}]")
        token = _button(witness, argument)
        await witness.press(token)
    await _print_replies(witness)


def _button(witness: FakeUser, label: str) -> str:
    for message in reversed(witness.bot_messages()):
        for row in message.buttons:
            for button_label, data in row:
                if button_label == label:
                    return data
    raise click.ClickException(f"demo script: no button {label!r} on screen")


_last_buttons: list[tuple[str, str]] = []


async def _print_replies(witness: FakeUser, first_wait: float = 15.0) -> None:
    wait = first_wait
    while True:
        try:
            message = await witness.next_bot_message(timeout=wait)
        except TimeoutError:
            return
        wait = 0.7
        click.echo("     bot> " + message.text.replace("\n", "\n          "))
        buttons = [button for row in message.buttons for button in row]
        if buttons:
            _last_buttons[:] = buttons
            labels = "  ".join(f"[{i}] {label}" for i, (label, _d) in enumerate(buttons, 1))
            click.echo(f"          {labels}")


async def _typed(witness: FakeUser) -> None:
    click.echo("\nYou are the witness. Type a message and press Enter. A number presses that "
               "button; /file PATH sends a file; /location LAT LON shares a place; /quit ends.\n")
    await witness.send_command("start")
    await _print_replies(witness)
    while True:
        line = (await asyncio.to_thread(input, "  you> ")).strip()
        if line == "/quit":
            return
        if line.isdigit() and 1 <= int(line) <= len(_last_buttons):
            await witness.press(_last_buttons[int(line) - 1][1])
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
        await _print_replies(witness, first_wait=5.0)
        if any("receipt code" in m.text for m in witness.bot_messages()[-2:]):
            return


async def _show_queue(
    storage: Storage, identity: crypto.X25519Identity, custody_public: bytes, folder: Path
) -> None:
    summaries = await list_reports(storage)
    click.echo("\nThe server's queue holds only ciphertext and minimal metadata:")
    for s in summaries:
        click.echo(f"  {s.report_id}  received {s.received_day}  {s.status}  {s.item_count} items")
    if not summaries:
        click.echo("  (empty: the witness did not send a report)")
        return
    click.echo(f"\nA reviewer opens the newest report on their own machine with the DEMO key "
               f"({folder / 'DEMO-reviewer-key.txt'}):\n")
    report = await open_report(storage, summaries[-1].report_id, [identity], custody_public)
    click.echo(render_report(report))
    click.echo("\nEnd of the demo.")
