"""The `--channel SLUG` option shared by commands that act on one channel's keys or reports."""

from __future__ import annotations

import click

from storage import DEFAULT_CHANNEL

channel_option = click.option(
    "--channel",
    default=DEFAULT_CHANNEL,
    show_default=True,
    help="The channel (partner organisation) this applies to: see `intake channel list`.",
)
