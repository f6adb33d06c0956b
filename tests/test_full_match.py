"""Validation patterns match the whole value: `$` lets a trailing newline through."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "cli", "crypto", "review", "standin", "storage")
_RE_CALLS = {"compile", "match", "fullmatch", "search"}


def _patterns(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _RE_CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "re"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str | bytes)
        ):
            pattern = node.args[0].value
            text = pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern
            found.append((node.lineno, text))
    return found


def test_no_pattern_ends_with_a_dollar_anchor() -> None:
    """Every pattern is used with fullmatch (or ends in \\Z), never anchored with `$`."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {pattern!r}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, pattern in _patterns(path)
        if pattern.endswith("$") and not pattern.endswith("\\$")
    ]
    assert not offenders, "\n".join(offenders)
