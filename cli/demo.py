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

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

import crypto
from bot.core import DEFAULT_QUESTIONNAIRE, load_questionnaire
from bot.telegram.runtime import BotOptions, running_bot
from cli.demo_chat import DEMO_PARTNER, DemoChat, report_ids, scripted, typed
from cli.logging_policy import configure_logging
from crypto.custody import custody_public_key
from review.audit import AuditTrail
from review.channels import add_channel
from review.queue import list_reports, open_report
from review.recipients import add_reviewer
from review.render import render_report
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

# (reviewer name, key file, channel): one throwaway key per channel (a key is registered once).
_DEMO_KEYS = (
    ("demo-reviewer", "DEMO-reviewer-key.txt", DEFAULT_CHANNEL),
    ("demo-partner-reviewer", "DEMO-partner-reviewer-key.txt", DEMO_PARTNER),
)

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
                    chat = DemoChat(witness, standin, storage, await report_ids(storage))
                    if interactive:
                        await typed(chat)
                    else:
                        await scripted(chat)
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
