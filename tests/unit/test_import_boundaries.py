"""The house's floors, and which package may import which library (ARCHITECTURE.md).

Reads every module's imports with ``ast`` (relative imports resolved), so a
forbidden import anywhere, even inside a function or under TYPE_CHECKING,
fails here. Library rules hold for everything a module reaches, not only
what it imports itself: a simulator that reaches bleak through the
gateway's BLE package breaks the rule as much as one importing it.
"""

from __future__ import annotations

import ast
import functools
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
    "textual_serve": ("dashboard.web",),
    "sqlite3": ("gateway.store",),
    "httpx": ("gateway.platforms",),
    "psycopg": ("gateway.archive",),
    "garmin_fit_sdk": ("gateway.store",),
    "plotext": ("gateway.store",),
    "matplotlib": ("gateway.store",),
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


@functools.cache
def _modules() -> dict[str, set[str]]:
    return {
        _module_name(path): _imports(path)
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _covers(prefix: str, name: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


# Each package on its floor: an import between packages goes strictly down,
# so the packages can never form a loop (docs/architecture.md draws this).
FLOORS: dict[str, int] = {
    "gateway.errors": 0,
    "gateway.clock": 1,
    "gateway.validation": 1,
    "gateway.argtypes": 1,
    "gateway.backoff": 1,
    "gateway.systemd": 1,
    "gateway.tasks": 1,  # a task for the length of a block
    "gateway.destinations": 1,  # the names of the services runs go to
    "gateway.bluez": 1,  # BlueZ over D-Bus, without bleak
    "gateway.ftms": 2,  # the codec
    "gateway.safety": 3,  # the governor: the cap lives here
    "gateway.workout": 4,
    "gateway.hub": 5,
    "gateway.link": 5,
    "gateway.config": 5,
    "gateway.contract": 6,  # the MQTT contract, both sides
    "gateway.ble": 6,  # the BLE link
    "gateway.peripheral": 6,  # hosting GATT services (dbus_fast)
    "gateway.station": 6,  # the station core and its shell
    "gateway.store": 7,
    "gateway.bridge": 7,  # the treadmill for apps (a GATT server under the governor)
    "gateway.cues": 7,  # spoken cues (the gateway's own speaker, and the dashboard's)
    "gateway.status": 7,
    "gateway.mqtt": 8,
    "gateway.platforms": 8,  # Strava and intervals.icu (httpx)
    "gateway.archive": 9,  # the site's archive in PostgreSQL (psycopg), fed by gateway.mqtt
    "gateway.service": 9,
    "gateway.commands": 10,
    "gateway.cli": 11,
    "dashboard.model": 20,
    "dashboard.host": 21,
    "dashboard.voice": 21,
    "dashboard.widgets": 21,
    "dashboard.screens": 22,
    "dashboard.runner": 23,
    "dashboard.web": 23,
    "dashboard.app": 24,
    "dashboard.cli": 25,
    "dashboard.demo_run": 25,
    "dashboard.demo": 26,
    "simulators.scenario": 20,
    "simulators.treadmill": 20,
    "simulators.heart": 20,
    "simulators.bluezoo_env": 20,
    "simulators.station": 21,
    "simulators.inprocess": 22,
    "simulators.bluez": 22,
    "simulators.provider": 23,
    "simulators.cli": 23,
}


def _package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] not in PACKAGES or len(parts) < 2:
        return None
    return ".".join(parts[:2])


def _project_imports(modules: dict[str, set[str]], module: str) -> set[str]:
    """The project modules ``module`` imports directly (an imported name resolves to its module)."""
    found = set()
    for name in modules[module]:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def _reach(modules: dict[str, set[str]], module: str) -> frozenset[str]:
    """Every project module ``module`` reaches, itself included."""
    if modules is _modules():
        return _reach_cached(module)
    return frozenset(_walk(modules, module))


@functools.cache
def _reach_cached(module: str) -> frozenset[str]:
    return frozenset(_walk(_modules(), module))


def _walk(modules: dict[str, set[str]], module: str) -> set[str]:
    seen, todo = {module}, [module]
    while todo:
        for nxt in _project_imports(modules, todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_package_has_a_floor() -> None:
    packages = {p for m in _modules() if (p := _package(m)) is not None}
    assert sorted(packages - set(FLOORS)) == []


def test_imports_between_packages_only_go_down() -> None:
    modules = _modules()
    offences = []
    for module in modules:
        here = _package(module)
        if here is None:
            continue
        for target in _project_imports(modules, module):
            there = _package(target)
            if there is None or there == here:
                continue
            if FLOORS[there] >= FLOORS[here]:
                offences.append(f"{module} imports {target} ({FLOORS[here]} -> {FLOORS[there]})")
    assert offences == []


def test_no_import_loops_between_modules() -> None:
    modules = _modules()
    loops = sorted(
        f"{a} <-> {b}"
        for a in modules
        for b in _project_imports(modules, a)
        if a < b and a in _reach(modules, b) and _package(a) != _package(b)
    )
    assert loops == []


def test_relative_imports_resolve() -> None:
    imports = _imports(ROOT / "gateway" / "ftms" / "control.py")
    assert "gateway.ftms.errors" in imports
    assert "gateway.ftms._wire" in imports


@pytest.mark.parametrize(("scope", "banned"), FORBIDDEN, ids=[rule[0] for rule in FORBIDDEN])
def test_forbidden_imports(scope: str, banned: frozenset[str]) -> None:
    modules = _modules()
    offences = [
        f"{module} reaches {name}" + (f" through {via}" if via != module else "")
        for module in modules
        if _covers(scope, module)
        for via in sorted(_reach(modules, module))
        for name in sorted(modules[via])
        if any(_covers(b, name) for b in banned) and not _covers(scope, name)
    ]
    assert offences == []


def test_indirect_reach_is_caught() -> None:
    """The walk follows the project's own modules: the simulator's BlueZoo helper
    once reached bleak through ``gateway.ble.scan``."""
    modules = dict(_modules())  # a copy: the cached walk stays the real one
    modules["simulators.probe"] = {"gateway.ble.scan", "gateway.ble.scan.bluez_objects"}
    reached = {name for via in _reach(modules, "simulators.probe") for name in modules[via]}
    assert "bleak" in reached


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
