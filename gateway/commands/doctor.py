"""``retrogate doctor``: check this machine for a session and say how to fix what is not."""

from __future__ import annotations

import argparse
import platform
import sys
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..ble.diagnose import Check
    from ..config import Settings


def _python() -> Check:
    from ..ble.diagnose import Check

    ok = sys.version_info >= (3, 11)
    return Check(
        "Python", ok, platform.python_version(), "" if ok else "install Python 3.11 or newer"
    )


def _backend() -> Check:
    from ..ble.diagnose import Check

    system = platform.system()
    if system != "Linux":
        return Check(
            "bleak backend", False, f"{system}: bleak works here, but retrogate is tested on Linux "
            "(BlueZ) only", "use a Raspberry Pi or another Linux machine next to the treadmill"
        )  # fmt: skip
    return Check("bleak backend", True, f"BlueZ over D-Bus (bleak {version('bleak')})")


async def _broker(settings: Settings) -> Check:
    from ..ble.diagnose import Check
    from ..mqtt.broker import mosquitto_commands
    from ..mqtt.probe import embedded_port_free, probe

    mqtt = settings.mqtt
    if mqtt.broker == "none":
        return Check("broker", True, 'MQTT is off (mqtt.broker = "none")')
    if mqtt.broker == "embedded":
        if embedded_port_free(mqtt.embedded_bind, mqtt.port):
            which = (
                f"a private mosquitto (password in {settings.data_dir / 'broker' / 'credentials'})"
                if mqtt.embedded != "amqtt" and mosquitto_commands() is not None
                else "amqtt (MQTT 3.1.1, no password; install mosquitto for a private broker)"
            )
            return Check(
                "broker", True, f"embedded broker, {which}, can listen on "
                f"{mqtt.embedded_bind}:{mqtt.port}"
            )  # fmt: skip
        return Check(
            "broker", False, f"port {mqtt.port} is taken (another broker?)",
            'use it with broker = "localhost", or set another mqtt.port',
        )  # fmt: skip
    ok, detail, fix = await probe(mqtt)
    return Check("broker", ok, detail, fix)


def _store(settings: Settings) -> Check:
    from ..ble.diagnose import Check
    from ..store.db import SessionStore, StoreError

    try:
        store = SessionStore.in_dir(settings.data_dir)
    except StoreError as exc:
        return Check("session store", False, str(exc), f"make {settings.data_dir} writable")
    count = len(store.sessions())
    store.close()
    return Check("session store", True, f"{store.path} ({count} sessions)")


async def _checks(args: argparse.Namespace) -> list[Check]:
    from ..ble.diagnose import Check, bluetooth_checks, paired_devices
    from ..config import ConfigError, load_config

    checks = [_python(), _backend()]
    try:
        settings = load_config(args.config)
    except ConfigError as exc:
        checks.append(Check("config", False, str(exc), "fix that key (docs/troubleshooting.md)"))
        return checks
    stations = ", ".join(s.id for s in settings.stations) or "none paired yet"
    checks.append(Check("config", True, f"valid; stations: {stations}"))
    devices = paired_devices(settings.stations)
    checks += await bluetooth_checks(settings.adapter, devices)
    if not settings.stations:
        checks.append(
            Check(
                "stations", False, "no treadmill paired", "retrogate pair (or try retrogate demo)"
            )
        )
    checks.append(await _broker(settings))
    checks.append(_store(settings))
    return checks


def report(checks: list[Check]) -> str:
    """The checks as text: a mark, the finding, and the fix under it."""
    lines = []
    for check in checks:
        lines.append(f"{'✔' if check.ok else '✘'} {check.name}: {check.detail}")
        if not check.ok and check.fix:
            lines.append(f"    fix: {check.fix}")
    failed = sum(not c.ok for c in checks)
    lines.append("all good" if not failed else f"{failed} problem(s) found")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 1 if anything needs fixing."""
    import asyncio

    print("checking… (Bluetooth, broker, config)", file=sys.stderr)
    checks = asyncio.run(_checks(args))
    print(report(checks))
    return 0 if all(c.ok for c in checks) else 1


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``doctor``."""
    from .common import add_config_option

    parser = sub.add_parser(
        "doctor", help="check Python, Bluetooth, the broker and the config; say how to fix"
    )
    add_config_option(parser)
    parser.set_defaults(run=run)
