"""End-to-end fixtures: BlueZoo on a private bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from bleak.backends.bluezdbus.manager import _global_instances

from gateway.bluez import close_bus
from tests.support.bluezoo import BlueZoo, start_bluezoo


@pytest.fixture
def bluezoo(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[BlueZoo]:
    """A fresh BlueZoo; bleak and dbus-fast in this process talk to it.

    Two adapters, or as many as ``@pytest.mark.adapters(N)`` asks (the bridge's tests
    need four). Its log is in ``tmp_path / "bluezoo.log"`` for when a test fails.
    """
    marker = request.node.get_closest_marker("adapters")
    adapters = int(marker.args[0]) if marker is not None else 2
    with start_bluezoo(tmp_path / "bluezoo.log", adapters) as zoo:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", zoo.bus_address)
        yield zoo


@pytest.fixture(autouse=True)
async def _release_bleak_bus() -> AsyncIterator[None]:
    """Close bleak's D-Bus connection for this test's loop.

    bleak keeps one BlueZ manager (with its socket) per event loop and frees
    it only when a later loop asks for a manager, so the last test's socket
    would leak and fail the run with a ResourceWarning.
    """
    yield
    manager = _global_instances.pop(asyncio.get_running_loop(), None)
    if manager is not None and manager._bus is not None:
        # and wait for the socket to close: disconnect() only shuts it down, and a
        # loop closed first left it to the garbage collector (a ResourceWarning in a
        # later test, seen once in CI)
        sock = manager._bus._sock
        await close_bus(manager._bus)
        assert sock is None or sock.fileno() == -1, "bleak's D-Bus socket is still open"
