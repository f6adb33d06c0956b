"""The `intake` command line (click): serve the bot, run the demo, manage reviewers, review."""

from __future__ import annotations

import atexit
import gc
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cli.lazy import LazyGroup, import_for_the_run
from cli.logging_policy import configure_logging

if TYPE_CHECKING:
    from cli.config import Settings

T = TypeVar("T")

# When the interpreter exits, its last garbage collections walk every object the imports made
# (SQLAlchemy's classes and tables, the libraries' modules): about a third of a short command such
# as `intake review list` (bench/cli_startup.py). Objects frozen here are skipped by those
# collections; the process is ending, so nothing is lost: atexit hooks (registered later, so
# run earlier) still run, standard streams are still flushed, and the commands close their
# databases, files and connections themselves before returning.
atexit.register(gc.freeze)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    import asyncio

    from cli.config import ConfigError
    from storage.server_keys import KeyFileError

    try:
        return asyncio.run(coroutine)
    except (ConfigError, KeyFileError) as error:
        raise click.ClickException(str(error)) from None


# Each command group's module is imported only when the group runs (cli/lazy.py).
_LAZY = {
    "reviewer": ("cli.reviewer_commands:reviewer",
                 "Register, list and remove reviewers' public age recipients (administrators)."),
    "channel": ("cli.channel_commands:channel",
                "Partner organisations' channels: own questionnaire, reviewers, keys and "
                "retention."),
    "keys": ("cli.keys_commands:keys_group",
             "Reviewer keys, the recovery key, and re-wrapping or re-encrypting after a change."),
    "audit": ("cli.audit_commands:audit_group",
              "Read and check the audit trail (hash-chained, signed with the server's custody "
              "key)."),
    "retention": ("cli.retention_commands:retention_group",
                  "Crypto-shred reports kept longer than INTAKE_RETENTION_DAYS allows."),
    "review": ("cli.review_commands:review",
               "Work with the sealed queue (decryption happens here, with your own key)."),
    "credentials": ("cli.credentials_commands:credentials",
                    "Make, list and revoke reviewer API credentials (administrators, on the "
                    "server)."),
    "evidence": ("cli.evidence_commands:evidence_group",
                 "Trusted time: anchor closed days with RFC 3161 authorities; see the queue."),
    "verify": ("cli.evidence_commands:verify_command",
               "Check an evidence bundle against anchors from outside it; names what fails."),
    "backup": ("cli.backup_commands:backup_command",
               "Copy the installation into a new folder while the bot runs (never the draft "
               "key)."),
    "restore": ("cli.backup_commands:restore_command",
                "Restore a backup into a new data directory and check everything in it."),
    "migrate": ("cli.backup_commands:migrate_command",
                "Carry a SQLite installation into PostgreSQL (stop the bot first)."),
    "api": ("cli.credentials_commands:api",
            "The reviewer API (plain HTTP on 127.0.0.1:8443 unless INTAKE_API_LISTEN says "
            "otherwise)."),
}


@click.group(cls=LazyGroup, lazy=_LAZY)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    envvar="INTAKE_CONFIG",
    help="Optional file of INTAKE_* settings (dotenv syntax); the environment wins over it.",
)
@click.pass_context
def main(context: click.Context, config_file: Path | None) -> None:
    """incident-intake: a Telegram bot that seals witness reports to reviewers' age keys."""
    import_for_the_run("cli.config")  # msgspec
    from cli.config import ConfigError, load_settings

    try:
        context.obj = load_settings(config_file)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@main.command("serve")
@click.option(
    "--webhook",
    is_flag=True,
    help="Receive updates on INTAKE_WEBHOOK_LISTEN behind a TLS reverse proxy (several "
    "workers may share one PostgreSQL) instead of long polling.",
)
@click.pass_obj
def serve_command(settings: Settings, webhook: bool) -> None:
    """Run the bot: long polling by default (stops cleanly on SIGTERM or Ctrl-C)."""
    from cli.config import ConfigError

    try:
        token = settings.token()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    from bot.telegram.bot_plan import tokens_read

    # Channels' own bots' tokens are scrubbed too, from the moment they are read.
    configure_logging(settings.log_level, secrets=[token], more=tokens_read)
    from cli.app import serve

    try:
        _run(serve(settings, token, webhook=webhook))
    except click.ClickException:
        raise
    except KeyboardInterrupt:
        # Ctrl-C before the stop handlers were in place (cli/stopping.py): nothing ran yet.
        click.echo("intake serve: stopped before it started", err=True)
        sys.exit(130)
    except Exception:
        # A traceback's messages can quote the token or witness input; log it through the
        # safe formatter (type and place only) instead of letting Python print it.
        import logging

        logging.getLogger("intake.cli").exception("serve.crashed")
        sys.exit(1)


@main.command("demo")
@click.option("--interactive", is_flag=True, help="Type the witness's messages yourself.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the demo's data here (default: a temporary folder, deleted afterwards).",
)
def demo_command(interactive: bool, data_dir: Path | None) -> None:
    """An offline demonstration: no Telegram, no token, a throwaway reviewer key."""
    from cli.demo import run_demo

    _run(run_demo(interactive=interactive, data_dir=data_dir))


if __name__ == "__main__":
    sys.exit(main())
