"""A private D-Bus daemon with BlueZoo (a BlueZ mock) and two adapters.

hci0 (00:00:00:11:11:11) hosts the simulator, hci1 (00:00:00:22:22:22) is
the gateway's radio. Used by ``retrogate demo --ble`` and the end-to-end
tests. BlueZoo 1.0.2 cannot connect twice to the same peripheral within one
process (ARCHITECTURE.md), so each user gets a fresh pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.bluez import BlueZError, managed_objects
from gateway.errors import RetrogateError

SIM_ADAPTER, CLIENT_ADAPTER = "hci0", "hci1"
SIM_ADDRESS, CLIENT_ADDRESS = "00:00:00:11:11:11", "00:00:00:22:22:22"
# With the bridge: the gateway's apps connect to hci2, and a test's app is on hci3.
BRIDGE_ADAPTER, APP_ADAPTER = "hci2", "hci3"
BRIDGE_ADDRESS, APP_ADDRESS = "00:00:00:33:33:33", "00:00:00:44:44:44"
ADDRESSES = (SIM_ADDRESS, CLIENT_ADDRESS, BRIDGE_ADDRESS, APP_ADDRESS)


@dataclass
class BlueZoo:
    """A running BlueZoo: its bus address and processes."""

    bus_address: str
    daemon_pid: int
    bluezoo: subprocess.Popen[bytes]
    log: Path


def _bluezoo_command() -> list[str] | None:
    script = Path(sys.executable).with_name("bluezoo")
    if script.exists():
        return [str(script)]
    found = shutil.which("bluezoo")
    return [found] if found else None


async def adapters_powered(bus_address: str, count: int = 2) -> bool:
    """True once BlueZoo exports ``count`` adapters powered on.

    Asked over D-Bus directly: the simulator side never goes through the
    gateway's BLE package (and so never reaches bleak).
    """
    try:
        objects = await managed_objects(bus_address)
    except (OSError, ValueError, BlueZError):
        return False
    powered = [
        ifaces["org.bluez.Adapter1"]["Powered"]
        for ifaces in objects.values()
        if "org.bluez.Adapter1" in ifaces
    ]
    return powered.count(True) == count


class BlueZooMissing(RetrogateError):
    """dbus-daemon or bluezoo is not installed (the message says how to get it)."""


def missing_parts() -> tuple[str, list[str]]:
    """The dbus-daemon and bluezoo commands, or BlueZooMissing saying what to install."""
    dbus_daemon = shutil.which("dbus-daemon")
    command = _bluezoo_command()
    missing = []
    if dbus_daemon is None:
        missing.append("dbus-daemon (sudo apt-get install dbus)")
    if command is None:
        missing.append("bluezoo (uv sync installs it with the dev dependencies)")
    if missing:
        raise BlueZooMissing("missing: " + "; ".join(missing))
    assert dbus_daemon is not None
    assert command is not None
    return dbus_daemon, command


def start_dbus_daemon(dbus_daemon: str) -> tuple[str, int]:
    """A private bus (forked, so it outlives nothing but its pid): (address, pid)."""
    out = subprocess.run(
        [dbus_daemon, "--session", "--fork", "--print-address=1", "--print-pid=1"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return out[0], int(out[1])


@contextlib.contextmanager
def start_bluezoo(log: Path, adapters: int = 2) -> Iterator[BlueZoo]:
    """Start dbus-daemon and BlueZoo (with the first ``adapters`` of ADDRESSES) for the
    block; stop both after it."""
    dbus_daemon, command = missing_parts()
    address, pid = start_dbus_daemon(dbus_daemon)
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                *command,
                "-v",
                "--auto-enable",
                "--scan-interval",
                "1",
                *(arg for address in ADDRESSES[:adapters] for arg in ("-a", address)),
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        ready = asyncio.run(_wait_ready(address, process, adapters))
        if not ready:
            raise BlueZooMissing(f"BlueZoo did not power its adapters within 20 s (see {log})")
        yield BlueZoo(address, pid, process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.kill(pid, signal.SIGTERM)


async def _wait_ready(address: str, process: subprocess.Popen[bytes], count: int) -> bool:
    """Poll the bus until the adapters are up (a readiness check, not a delay)."""
    async with asyncio.timeout(20):
        while process.poll() is None:
            if await adapters_powered(address, count):
                return True
            await asyncio.sleep(0.1)
    return False
