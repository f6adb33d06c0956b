"""The dependency rules of the layout: adapters depend on the core, never the other way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"bot", "crypto", "storage", "review", "standin", "cli"}
# package -> the packages of ours it may import
ALLOWED = {
    "crypto": set(),
    "storage": set(),
    "standin": set(),
    "bot": {"crypto", "storage"},
    "review": {"crypto", "storage"},
    "cli": OURS,
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package: str) -> None:
    """Each package imports only the packages of ours that the layout allows."""
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    for path in files:
        forbidden = _imports(path) - ALLOWED[package] - {package}
        assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"


def _top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def test_core_has_no_io() -> None:
    """The conversation core imports no Telegram, database or network library."""
    io_libraries = {"telegram", "sqlalchemy", "aiohttp", "httpx", "asyncpg", "aiosqlite",
                    "storage"}
    for path in sorted((ROOT / "bot" / "core").rglob("*.py")):
        used = _top_level_modules(path) & io_libraries
        assert not used, f"{path.relative_to(ROOT)} imports {sorted(used)}"


def test_only_one_module_touches_hazmat() -> None:
    """Only crypto/_primitives.py imports cryptography.hazmat (bench/ measures raw baselines)."""
    users = [
        path.relative_to(ROOT).as_posix()
        for package in sorted(OURS)
        for path in sorted((ROOT / package).rglob("*.py"))
        if "cryptography.hazmat" in path.read_text(encoding="utf-8")
    ]
    assert users == ["crypto/_primitives.py"]
