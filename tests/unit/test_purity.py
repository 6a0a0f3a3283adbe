"""The pure layers import nothing that does I/O or reads the wall clock (STYLE rule 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "trunkline"
PURE = ["engine", "ncco", "rtp", "sim", "sip"]
FORBIDDEN = {
    "asyncio",
    "socket",
    "time",
    "datetime",
    "httpx",
    "aiohttp",
    "sqlalchemy",
    "sqlite3",
    "starlette",
    "uvicorn",
    "subprocess",
    "threading",
    "trunkline.store",
    "trunkline.webhooks",
    "trunkline.call",
    "trunkline.api",
}


def _modules() -> list[Path]:
    return sorted(p for pkg in PURE for p in (SRC / pkg).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_module_imports_no_io(path: Path) -> None:
    bad = {
        name
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_the_check_sees_every_pure_package() -> None:
    found = {p.relative_to(SRC).parts[0] for p in _modules()}
    assert found == set(PURE)
