"""``retrogate doctor``'s Bluetooth checks against BlueZoo and a bus without BlueZ."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator

import pytest

from gateway.ble.diagnose import bluetooth_checks
from simulators.bluezoo_env import start_dbus_daemon
from tests.support.bluezoo import CLIENT_ADAPTER, CLIENT_ADDRESS, BlueZoo
from tests.support.services import require

pytestmark = [pytest.mark.bluez, pytest.mark.slow]


@pytest.fixture
def bare_bus() -> Iterator[str]:
    """A private D-Bus daemon with nobody on it (BlueZ "not running")."""
    daemon = shutil.which("dbus-daemon")
    require(daemon is not None, "dbus-daemon", "apt-get install dbus")
    assert daemon is not None
    address, pid = start_dbus_daemon(daemon)
    try:
        yield address
    finally:
        os.kill(pid, signal.SIGTERM)


async def test_a_powered_adapter_passes_and_an_unseen_treadmill_says_what_to_do(
    bluezoo: BlueZoo,
) -> None:
    checks = await bluetooth_checks(
        CLIENT_ADAPTER, {"lane treadmill": "AA:BB:CC:DD:EE:FF"}, bluezoo.bus_address
    )
    by_name = {c.name: c for c in checks}
    assert by_name["BlueZ"].ok
    assert by_name["adapter"].ok
    assert CLIENT_ADDRESS in by_name["adapter"].detail
    assert not by_name["lane treadmill"].ok
    assert "retrogate pair" in by_name["lane treadmill"].fix


async def test_a_missing_adapter_names_the_ones_there_are(bluezoo: BlueZoo) -> None:
    (_, adapter) = await bluetooth_checks("hci7", {}, bluezoo.bus_address)
    assert not adapter.ok
    assert "hci0" in adapter.detail
    assert 'adapter = "hci0"' in adapter.fix


async def test_bluez_not_running_is_told_apart_from_no_dbus(bare_bus: str) -> None:
    (check,) = await bluetooth_checks("hci0", {}, bare_bus)
    assert check.name == "BlueZ"
    assert "not running" in check.detail
    assert "systemctl enable --now bluetooth" in check.fix
    (check,) = await bluetooth_checks("hci0", {}, "unix:path=/nonexistent/bus")
    assert check.name == "D-Bus"
    assert not check.ok
