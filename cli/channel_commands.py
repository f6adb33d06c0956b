"""`intake channel ...`: partner organisations' channels in one deployment (docs/channels.md)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.config import ConfigError, Settings
from cli.keys_commands import actor_option, audit_trail
from cli.setting_checks import parse_retention
from cli.store import open_storage
from review.channels import ChannelError, add_channel, parse_languages, require_channel, set_channel
from storage import DEFAULT_CHANNEL, ChannelRecord

T = TypeVar("T")
_RESETTABLE = ("questionnaire", "languages", "retention", "reviewers-chat-id", "bot")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except (ConfigError, ChannelError) as error:
        raise click.ClickException(str(error)) from None


def _questionnaire(path: Path) -> str:
    """A questionnaire file that loads, as an absolute path (the bot reads it at start)."""
    from bot.core.questionnaire import QuestionnaireError, load_questionnaire

    try:
        load_questionnaire(path)
    except (OSError, QuestionnaireError) as error:
        raise ChannelError(f"--questionnaire: {error}") from None
    return str(path.resolve())


def _check_offers(settings: Settings, record: ChannelRecord) -> None:
    """Refuse settings the bot would refuse at start (languages the questionnaire lacks)."""
    from bot.channel_loading import ChannelSetupError, channel_questionnaire
    from cli.labels import questionnaire_for

    try:
        channel_questionnaire(record, questionnaire_for(settings))
    except ChannelSetupError as error:
        raise ChannelError(str(error)) from None


def _languages(text: str) -> tuple[str, ...]:
    from bot.i18n import LANGUAGE_NAMES

    return parse_languages(text, tuple(LANGUAGE_NAMES))


def _retention(text: str) -> str:
    try:
        parse_retention(text)
    except ValueError as error:
        raise ChannelError(f"--retention {error}") from None
    return text.strip()


def _check_bot(record: ChannelRecord) -> None:
    if record.slug == DEFAULT_CHANNEL and record.bot_token_file:
        raise ChannelError("the default channel is served by the deployment's bot: set "
                           "INTAKE_BOT_TOKEN instead of --bot-token-file")
    if record.webhook_secret_file and not record.bot_token_file:
        raise ChannelError("--webhook-secret-file belongs to a channel's own bot: give the "
                           "channel --bot-token-file as well")


def _webhook_path(token_file: str) -> str:
    """`/telegram/<tag>` of the bot whose token is in the file (its id is the token's head)."""
    from bot.telegram.bot_plan import read_token_file
    from storage.send_budget import bot_tag

    token = read_token_file(Path(token_file))
    return f"/telegram/{bot_tag(int(token.split(':', 1)[0]))}"


def _bot_shown(record: ChannelRecord) -> str:
    from bot.telegram.bot_plan import BotFileError

    if not record.bot_token_file:
        return "the deployment's (INTAKE_BOT_TOKEN)"
    secret = record.webhook_secret_file or "INTAKE_WEBHOOK_SECRET_FILE"
    try:
        path = _webhook_path(record.bot_token_file)
    except BotFileError as error:
        return f"its own, token file {record.bot_token_file}: NOT USABLE: {error}"
    return (f"its own, token file {record.bot_token_file}, webhook secret {secret}, "
            f"webhook path {path}")


@click.group("channel")
def channel() -> None:
    """Partner organisations' channels: own questionnaire, reviewers, keys and retention."""


_settings_options = [
    click.option("--questionnaire", type=click.Path(path_type=Path), default=None,
                 help=("The channel's questionnaire (TOML); unset: INTAKE_QUESTIONNAIRE. "
                       "Read when the bot starts.")),
    click.option("--languages", default=None,
                 help=("Languages offered, e.g. uk,ru,en (those the questionnaire has); "
                       "unset: all the questionnaire has.")),
    click.option("--retention", default=None,
                 help="STATUS=DAYS pairs, e.g. closed=90; unset: INTAKE_RETENTION_DAYS."),
    click.option("--reviewers-chat-id", type=int, default=None,
                 help=("Chat for this channel's new-report notices; unset: none (the default "
                       "channel: INTAKE_REVIEWERS_CHAT_ID).")),
    click.option("--bot-token-file", type=click.Path(path_type=Path), default=None,
                 help=("A file (mode 600) holding the token of the channel's own bot; unset: "
                       "the deployment's bot serves it.")),
    click.option("--webhook-secret-file", type=click.Path(path_type=Path), default=None,
                 help=("A file (mode 600) holding its own bot's webhook secret; unset: "
                       "INTAKE_WEBHOOK_SECRET_FILE.")),
]


def _with_settings(function: Any) -> Any:
    for option in reversed(_settings_options):
        function = option(function)
    return function


def _bot_file(path: Path, read: Callable[[Path], str], option: str) -> str:
    """A token or webhook secret file the bot can use, as an absolute path (the secret itself
    is never stored nor shown)."""
    from bot.telegram.bot_plan import BotFileError

    try:
        read(path)
    except BotFileError as error:
        raise ChannelError(f"{option}: {error}") from None
    return str(path.resolve())


def _changes(
    questionnaire: Path | None, languages: str | None, retention: str | None,
    reviewers_chat_id: int | None, bot_token_file: Path | None = None,
    webhook_secret_file: Path | None = None,
) -> dict[str, Any]:
    from bot.telegram.bot_plan import read_token_file, read_webhook_secret_file

    changes: dict[str, Any] = {}
    if bot_token_file is not None:
        changes["bot_token_file"] = _bot_file(bot_token_file, read_token_file,
                                              "--bot-token-file")
    if webhook_secret_file is not None:
        changes["webhook_secret_file"] = _bot_file(webhook_secret_file, read_webhook_secret_file,
                                                   "--webhook-secret-file")
    if questionnaire is not None:
        changes["questionnaire"] = _questionnaire(questionnaire)
    if languages is not None:
        changes["languages"] = _languages(languages)
    if retention is not None:
        changes["retention_days"] = _retention(retention)
    if reviewers_chat_id is not None:
        changes["reviewers_chat_id"] = reviewers_chat_id
    return changes


@channel.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The partner organisation's name (for staff).")
@_with_settings
@click.option("--public", is_flag=True,
              help="List it by name in the bot's first question (INTAKE_CHANNEL_CHOOSER=true).")
@actor_option
@click.pass_obj
def channel_add(
    settings: Settings, slug: str, name: str, questionnaire: Path | None, languages: str | None,
    retention: str | None, reviewers_chat_id: int | None, bot_token_file: Path | None,
    webhook_secret_file: Path | None, public: bool, actor: str,
) -> None:
    """Make a channel; witnesses reach it by the deep link https://t.me/<bot>?start=SLUG
    (or the first question, if public), within 30 s of a running bot (docs/channels.md)."""

    async def run() -> None:
        changes = _changes(questionnaire, languages, retention, reviewers_chat_id,
                           bot_token_file, webhook_secret_file)
        record = ChannelRecord(slug=slug, name=name, public=public, **changes)
        _check_offers(settings, record)
        _check_bot(record)
        async with open_storage(settings) as storage:
            made = await add_channel(
                storage, record, audit=audit_trail(settings, storage), actor=actor
            )
        click.echo(f"made channel {made.slug}; register its reviewers with `intake reviewer add "
                   f"--channel {made.slug} ...` and its recovery key with `intake keys recovery "
                   f"--channel {made.slug} ...`; its deep link: https://t.me/<bot>?start="
                   f"{made.slug}")

    _run(run())


@channel.command("list")
@click.pass_obj
def channel_list(settings: Settings) -> None:
    """Show every channel: slug, public or not, which bot serves it, name."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            for record in await storage.channels.all():
                shown = "public" if record.public else "link-only"
                # `intake channel show SLUG` names the token file and whether it is usable.
                bot = "own-bot" if record.bot_token_file else "deployment-bot"
                click.echo(f"{record.slug}\t{shown}\t{bot}\t{record.name}")

    _run(run())


@channel.command("show")
@click.argument("slug")
@click.pass_obj
def channel_show(settings: Settings, slug: str) -> None:
    """Show one channel's settings and its active recipients."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            record = await require_channel(storage, slug)
            recipients = await storage.recipients.active(slug)
        deployment = "(the deployment's setting)"
        click.echo(f"slug: {record.slug}\nname: {record.name}\npublic: {record.public}")
        click.echo(f"questionnaire: {record.questionnaire or deployment}")
        languages = ",".join(record.languages) if record.languages else None
        click.echo(f"languages: {languages or deployment}")
        click.echo(f"retention: {record.retention_days or deployment}")
        none = deployment if record.slug == DEFAULT_CHANNEL else "(none: no notices)"
        click.echo(f"reviewers chat: {record.reviewers_chat_id or none}")
        click.echo(f"bot: {_bot_shown(record)}")
        for r in recipients:
            click.echo(f"recipient: {r.name}\t{r.kind.value}\t{r.key_id}")

    _run(run())


@channel.command("set")
@click.argument("slug")
@click.option("--name", default=None, help="A new name.")
@_with_settings
@click.option("--public/--link-only", default=None,
              help="Whether the bot's first question lists it (INTAKE_CHANNEL_CHOOSER=true).")
@click.option("--reset", type=click.Choice(_RESETTABLE), multiple=True,
              help="Go back to the deployment's setting (repeatable).")
@actor_option
@click.pass_obj
def channel_set(
    settings: Settings, slug: str, name: str | None, questionnaire: Path | None,
    languages: str | None, retention: str | None, reviewers_chat_id: int | None,
    bot_token_file: Path | None, webhook_secret_file: Path | None,
    public: bool | None, reset: tuple[str, ...], actor: str,
) -> None:
    """Change a channel's settings (its slug never changes: links carry it)."""

    async def run() -> None:
        changes = _changes(questionnaire, languages, retention, reviewers_chat_id,
                           bot_token_file, webhook_secret_file)
        if name is not None:
            changes["name"] = name
        if public is not None:
            changes["public"] = public
        for setting in reset:
            fields = (("bot_token_file", "webhook_secret_file") if setting == "bot" else
                      ({"retention": "retention_days"}.get(setting, setting.replace("-", "_")),))
            if any(field in changes for field in fields):
                raise ChannelError(f"--reset {setting} and a new value for it at once: give "
                                   "one of them")
            changes.update(dict.fromkeys(fields))
        async with open_storage(settings) as storage:
            current = await require_channel(storage, slug)
            _check_offers(settings, dataclasses.replace(current, **changes))
            _check_bot(dataclasses.replace(current, **changes))
            changed = await set_channel(
                storage, slug, changes, audit=audit_trail(settings, storage), actor=actor
            )
        click.echo(f"changed channel {changed.slug}; a running bot serves the change within "
                   "30 seconds")
        if "bot_token_file" in changes and changed.bot_token_file:
            click.echo(f"its own bot's deep link: https://t.me/<that bot>?start={changed.slug}; "
                       f"its webhook path: {_webhook_path(changed.bot_token_file)}")

    _run(run())
