"""Every hint that names an option names one that exists (issue 20: `review stats --csv` once
told the user to pass --force, which stats did not have).

The test walks the real command tree (`intake` and every subcommand, lazy ones loaded), then
every string the code can show (cli/, review/, bot/, storage/): an `--option` named in a
message must be an option of some command; named in a command's own code (its function and
the helpers of its module it calls), it must be an option of that command or of the groups
above it, unless the message names another command (`intake keys new --name ...`), which must
then have it.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import FunctionType

import click
import pytest
from click.testing import CliRunner

import crypto
from cli.main import main

ROOT = Path(__file__).resolve().parents[2]
_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")
# `intake review export-data --format`: the words after `intake` name the command.
_INVOCATION = re.compile(r"intake((?:\s+[a-z][a-z0-9-]*)+)")
# Options of other programs that messages mention (pip, age, systemd...), not ours.
_FOREIGN = {"--help", "--version"}


def _tree() -> dict[tuple[str, ...], click.Command]:
    commands: dict[tuple[str, ...], click.Command] = {}

    def walk(path: tuple[str, ...], command: click.Command) -> None:
        commands[path] = command
        if isinstance(command, click.Group):
            context = click.Context(command)
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                if sub is not None:
                    walk((*path, name), sub)

    walk((), main)
    return commands


def _options(command: click.Command) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}


def _inherited(tree: dict[tuple[str, ...], click.Command], path: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for length in range(len(path) + 1):
        found |= _options(tree[path[:length]])
    return found


def _messages(node: ast.AST) -> Iterator[str]:
    """String constants that are not option declarations (click.option("--x")) or docstrings
    (which describe, and may name other programs' options)."""
    declared: set[int] = set()
    for scope in ast.walk(node):
        body = getattr(scope, "body", None)
        if (isinstance(scope, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)):
            declared.add(id(body[0].value))
    for call in ast.walk(node):
        if isinstance(call, ast.Call) and getattr(call.func, "attr", None) in ("option",
                                                                                "Option"):
            declared |= {id(a) for a in call.args}
    for constant in ast.walk(node):
        if (isinstance(constant, ast.Constant) and isinstance(constant.value, str)
                and id(constant) not in declared):
            yield constant.value


def _named(text: str, tree: dict[tuple[str, ...], click.Command]) -> Iterator[
        tuple[str, tuple[str, ...] | None]]:
    """(option, the command the text names for it, if it names one)."""
    target: tuple[str, ...] | None = None
    for match in _OPTION.finditer(text):
        invocations = list(_INVOCATION.finditer(text[:match.start()]))
        if invocations:
            words = tuple(invocations[-1].group(1).split())
            while words and words not in tree:
                words = words[:-1]
            target = words
        yield match.group(0), target


def test_every_option_named_in_a_message_exists_somewhere() -> None:
    tree = _tree()
    every = set().union(*(_options(c) for c in tree.values())) | _FOREIGN
    missing = []
    for folder in ("cli", "review", "bot", "storage"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for text in _messages(ast.parse(path.read_text("utf-8"))):
                missing += [f"{path.relative_to(ROOT)}: {option} in {text!r}"
                            for option, _ in _named(text, tree) if option not in every]
    assert missing == []


def _callees(function: FunctionType) -> Iterator[ast.AST]:
    """The function's own syntax tree, and those of its module's functions it calls."""
    module = inspect.getmodule(function)
    source = ast.parse(textwrap.dedent(inspect.getsource(function)))
    yield source
    called = {n.func.id for n in ast.walk(source)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    for name in sorted(called):
        helper = getattr(module, name, None)
        if isinstance(helper, FunctionType) and helper.__module__ == function.__module__:
            yield ast.parse(textwrap.dedent(inspect.getsource(helper)))


def _callback(command: click.Command) -> FunctionType | None:
    function = command.callback
    while function is not None and hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    return function if isinstance(function, FunctionType) else None


def test_each_command_names_only_its_own_options() -> None:
    tree = _tree()
    wrong = []
    for path, command in tree.items():
        function = _callback(command)
        if function is None:
            continue
        own = _inherited(tree, path) | _FOREIGN
        for syntax in _callees(function):
            for text in _messages(syntax):
                for option, target in _named(text, tree):
                    allowed = _inherited(tree, target) | _FOREIGN if target else own
                    if option not in allowed:
                        wrong.append(f"intake {' '.join(path)}: {option} in {text!r}")
    assert wrong == []


@pytest.mark.parametrize("shared", ["write_export", "decrypted_records"])
def test_commands_sharing_a_helper_have_the_options_its_messages_name(shared: str) -> None:
    """write_export says "pass --force", the cache "run with --no-cache": every command that
    calls them has that option."""
    from cli import monitoring_commands
    from review.monitoring import cache, tables

    tree = _tree()
    helper = {"write_export": tables.write_export,
              "decrypted_records": cache.own_recipients}[shared]
    named = {o for text in _messages(ast.parse(inspect.getsource(helper)))
             for o, _ in _named(text, tree)}
    assert named
    for path, command in tree.items():
        function = _callback(command)
        if function is None or function.__module__ != monitoring_commands.__name__:
            continue
        if shared in inspect.getsource(function):
            assert named <= _inherited(tree, path), (path, named)


def test_stats_csv_over_a_file_names_force_and_force_works(tmp_path: Path) -> None:
    """The measured case: the hint names --force, and stats has it."""
    existing = tmp_path / "numbers.csv"
    existing.write_text("keep me")
    key = tmp_path / "alice.key"
    key.write_text(f"{crypto.generate_identity()}\n")
    result = CliRunner().invoke(main, ["review", "stats", "-i", str(key),
                                       "--csv", str(existing)])
    assert result.exit_code != 0 and "--force" in result.output
    assert "--force" in _options(_tree()[("review", "stats")])
    assert existing.read_text() == "keep me"
