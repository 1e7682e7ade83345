"""BlueZoo for the end-to-end tests: skip locally, fail under CI, when it is missing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from gateway.clock import Clock
from simulators.bluez.peripheral import BluezPeripheral
from simulators.bluezoo_env import (
    APP_ADAPTER,
    BRIDGE_ADAPTER,
    BRIDGE_ADDRESS,
    CLIENT_ADAPTER,
    CLIENT_ADDRESS,
    SIM_ADAPTER,
    SIM_ADDRESS,
    BlueZoo,
    BlueZooMissing,
    adapters_powered,
    missing_parts,
)
from simulators.bluezoo_env import start_bluezoo as _start
from simulators.station import SimulatedStation

from .services import require

__all__ = [
    "APP_ADAPTER",
    "BRIDGE_ADAPTER",
    "BRIDGE_ADDRESS",
    "CLIENT_ADAPTER",
    "CLIENT_ADDRESS",
    "SIM_ADAPTER",
    "SIM_ADDRESS",
    "BlueZoo",
    "adapters_powered",
    "peripheral_running",
    "start_bluezoo",
]


@contextlib.contextmanager
def start_bluezoo(log: Path, adapters: int = 2) -> Iterator[BlueZoo]:
    """BlueZoo for one test, or a skip (locally) / failure (CI) naming what is missing."""
    try:
        missing_parts()
    except BlueZooMissing as exc:
        require(False, "BlueZoo", str(exc))
    with _start(log, adapters) as running:
        yield running


@contextlib.asynccontextmanager
async def peripheral_running(
    station: SimulatedStation, clock: Clock
) -> AsyncIterator[BluezPeripheral]:
    """The simulator as a GATT peripheral on SIM_ADAPTER, in this process, for the block."""
    peripheral = BluezPeripheral(station, clock, SIM_ADAPTER)
    task = asyncio.create_task(peripheral.run())
    ready = asyncio.create_task(peripheral.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # raise what went wrong
    try:
        yield peripheral
    finally:
        ready.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
