"""Which package may import which library (ARCHITECTURE.md, rules 1 and 2).

Reads every module's imports with ``ast`` (relative imports resolved), so a
forbidden import anywhere, even inside a function, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "dashboard", "simulators")

# (modules the rule covers, imported top-level names they must not use)
FORBIDDEN: list[tuple[str, frozenset[str]]] = [
    (
        "gateway.ftms",
        frozenset(
            {
                "bleak",
                "asyncio",
                "aiomqtt",
                "paho",
                "amqtt",
                "textual",
                "dbus_fast",
                "sqlite3",
                "socket",
                "logging",
                "gateway.ble",
                "gateway.mqtt",
            }
        ),
    ),
    ("gateway", frozenset({"textual", "simulators", "dashboard"})),
    ("simulators", frozenset({"textual", "dashboard", "bleak", "aiomqtt"})),
]
# A library enters through one package only.
ONLY_IN = {
    "bleak": ("gateway.ble",),
    "bleak_retry_connector": ("gateway.ble",),
    "aiomqtt": ("gateway.mqtt",),
    "paho": ("gateway.mqtt",),
    "amqtt": ("gateway.mqtt",),
    "textual": ("dashboard",),
    "sqlite3": ("gateway.store",),
    "garmin_fit_sdk": ("gateway.store",),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _modules() -> dict[str, set[str]]:
    return {
        _module_name(path): _imports(path)
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _covers(prefix: str, name: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_relative_imports_resolve() -> None:
    imports = _imports(ROOT / "gateway" / "ftms" / "control.py")
    assert "gateway.ftms.errors" in imports
    assert "gateway.ftms._wire" in imports


@pytest.mark.parametrize(("scope", "banned"), FORBIDDEN, ids=[rule[0] for rule in FORBIDDEN])
def test_forbidden_imports(scope: str, banned: frozenset[str]) -> None:
    offences = [
        f"{module} imports {name}"
        for module, names in _modules().items()
        if _covers(scope, module)
        for name in sorted(names)
        if any(_covers(b, name) for b in banned)
    ]
    assert offences == []


@pytest.mark.parametrize("library", sorted(ONLY_IN))
def test_library_enters_through_one_package(library: str) -> None:
    offences = [
        f"{module} imports {name}"
        for module, names in _modules().items()
        if not any(_covers(owner, module) for owner in ONLY_IN[library])
        for name in sorted(names)
        if _covers(library, name)
    ]
    assert offences == []
