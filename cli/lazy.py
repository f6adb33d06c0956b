"""A click group that imports a subcommand's module only when that subcommand runs.

`intake --help` lists every command from the short help written here, and `intake review list`
imports the review commands only: neither pays for python-telegram-bot, aiohttp or alembic.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import click


def import_for_the_run(name: str) -> ModuleType:
    """Import a command's module, whose objects (and those of SQLAlchemy, msgspec and the rest
    it imports) live until the process ends, without the garbage collector walking them.

    Left to itself, the collector runs again and again as the imports pile up hundreds of
    thousands of objects, and walks them all each time for nothing (about 0.07 s of `intake
    review list`, bench/cli_startup.py). Here it is paused for the import, and what the import
    made is then frozen: never walked again, still freed by reference counting. What was
    garbage before is collected first, so that it is not frozen with the rest.
    """
    if name in sys.modules:
        return sys.modules[name]
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(name)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


class LazyGroup(click.Group):
    """`lazy` maps a command name to ("module:attribute", one-line help for listings)."""

    def __init__(
        self, *args: Any, lazy: Mapping[str, tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module_name, attribute = self.lazy[cmd_name][0].split(":")
            command = getattr(import_for_the_run(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module_name}:{attribute} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, taking lazy commands' help from `lazy` instead of importing them."""
        rows: list[tuple[str, str]] = []
        limit = formatter.width - 6 - max((len(n) for n in self.list_commands(ctx)), default=0)
        for name in self.list_commands(ctx):
            if name in self.lazy and name not in self.commands:
                summary = click.Command(name, help=self.lazy[name][1])
                rows.append((name, summary.get_short_help_str(limit)))
                continue
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
