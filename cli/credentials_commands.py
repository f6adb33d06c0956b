"""`intake credentials ...` and `intake api serve`: the reviewer API and who may use it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import click

from cli.config import ConfigError, Settings
from cli.keys_commands import actor_option, audit_trail
from cli.logging_policy import configure_logging
from cli.store import open_storage
from review.api.credentials import create_credential, parse_role, revoke_credential
from review.local import ReviewError

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except (ConfigError, ReviewError) as error:
        raise click.ClickException(str(error)) from None


@click.group("api")
def api() -> None:
    """The reviewer API (plain HTTP on 127.0.0.1:8443 unless INTAKE_API_LISTEN says otherwise)."""


@api.command("serve")
@click.pass_obj
def api_serve(settings: Settings) -> None:
    """Serve the reviewer API until SIGTERM or Ctrl-C. Put a TLS reverse proxy in front of it."""
    configure_logging(settings.log_level)

    def ready(url: str) -> None:
        # Said only once the port is bound: a busy port never gets announced.
        click.echo(f"reviewer API on {url} (plain HTTP: expose it only through a TLS reverse "
                   "proxy)")

    from cli.app import serve_api

    _run(serve_api(settings, ready))


@click.group("credentials")
def credentials() -> None:
    """Make, list and revoke reviewer API credentials (administrators, on the server)."""


@credentials.command("add")
@click.option("--name", required=True, help="Whose credential (their name in the audit trail).")
@click.option("--role", type=click.Choice(["reviewer", "admin"]), default="reviewer",
              show_default=True)
@click.option("--channel", default=None,
              help="Reach this channel's reports only (see `intake channel list`); default: "
              "every channel.")
@actor_option
@click.pass_obj
def credentials_add(
    settings: Settings, name: str, role: str, channel: str | None, actor: str
) -> None:
    """Make a credential and print its token once (only a hash of it is kept)."""

    async def run() -> str:
        async with open_storage(settings) as storage:
            _record, token = await create_credential(
                storage, audit_trail(settings, storage), actor, name, parse_role(role), channel
            )
        return token

    token = _run(run())
    scope = f"channel {channel}" if channel else "every channel"
    click.echo(f"credential {name} ({role}, {scope}) made. Its token, shown only this once:")
    click.echo(token)
    click.echo("Hand it over privately; the reviewer keeps it in a file (intake review "
               "--token-file FILE) or INTAKE_REVIEW_TOKEN. `intake credentials revoke NAME` "
               "stops it at once.")


@credentials.command("list")
@click.pass_obj
def credentials_list(settings: Settings) -> None:
    """Show credentials: name, role, made, and revoked if so. Never tokens."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            records = await storage.credentials.registered()
        if not records:
            click.echo("no credentials yet: `intake credentials add --name NAME`")
        for r in records:
            state = "active" if r.active else f"revoked {r.revoked_on}"
            scope = f"channel {r.channel}" if r.channel else "every channel"
            click.echo(f"{r.name}\t{r.role.value}\tmade {r.created_on}\t{state}\t{scope}")

    _run(run())


@credentials.command("revoke")
@click.argument("name")
@actor_option
@click.pass_obj
def credentials_revoke(settings: Settings, name: str, actor: str) -> None:
    """Revoke NAME's active credential; the API refuses it from the next request on."""

    async def run() -> None:
        async with open_storage(settings) as storage:
            await revoke_credential(storage, audit_trail(settings, storage), actor, name)

    _run(run())
    click.echo(f"revoked {name}'s credential")
