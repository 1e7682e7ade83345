"""The simulator as a BLE peripheral on BlueZoo, seen by plain bleak.

The client side uses bleak and literal FTMS bytes only, no project code, so
the simulator is checked against the spec, not against our own decoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from gateway.clock import LoopClock
from simulators.bluez.peripheral import BluezPeripheral
from simulators.scenario import load_scenario
from simulators.station import SimulatedStation
from tests.support.bluezoo import CLIENT_ADAPTER, SIM_ADAPTER, BlueZoo, peripheral_running

pytestmark = [pytest.mark.bluez, pytest.mark.slow]

SCENARIOS = Path(__file__).parents[1] / "scenarios"
SPEEDUP = 4.0  # simulated seconds per real second

FTMS = "00001826-0000-1000-8000-00805f9b34fb"
FEATURE = "00002acc-0000-1000-8000-00805f9b34fb"
TREADMILL_DATA = "00002acd-0000-1000-8000-00805f9b34fb"
SPEED_RANGE = "00002ad4-0000-1000-8000-00805f9b34fb"
CONTROL_POINT = "00002ad9-0000-1000-8000-00805f9b34fb"
STATUS = "00002ada-0000-1000-8000-00805f9b34fb"
HEART_RATE = "00002a37-0000-1000-8000-00805f9b34fb"


def speed_and_distance(frame: bytes) -> tuple[float | None, int | None]:
    """Instantaneous speed and total distance straight from the FTMS layout."""
    flags = int.from_bytes(frame[:2], "little")
    offset, speed = 2, None
    if not flags & 0x01:
        speed = int.from_bytes(frame[2:4], "little") / 100
        offset = 4
    if flags & 0x02:
        offset += 2
    distance = int.from_bytes(frame[offset : offset + 3], "little") if flags & 0x04 else None
    return speed, distance


@contextlib.asynccontextmanager
async def simulator(scenario: str) -> AsyncIterator[BluezPeripheral]:
    station = SimulatedStation(load_scenario(SCENARIOS / scenario))
    async with peripheral_running(station, LoopClock(SPEEDUP)) as peripheral:
        yield peripheral


async def find_treadmill() -> BLEDevice:
    """Scan by the FTMS service UUID.

    The callback goes to the scanner's constructor: BlueZoo reports a device
    once, possibly before StartDiscovery returns, and find_device_by_filter
    only starts listening after that, so it can miss it.
    """
    found: asyncio.Future[BLEDevice] = asyncio.get_running_loop().create_future()

    def seen(device: BLEDevice, adv: AdvertisementData) -> None:
        if FTMS in adv.service_uuids and not found.done():
            found.set_result(device)

    async with BleakScanner(seen, bluez={"adapter": CLIENT_ADAPTER}):
        return await asyncio.wait_for(found, 15)


async def test_plain_bleak_drives_the_simulated_treadmill(bluezoo: BlueZoo) -> None:
    async with simulator("console_speedup.toml"):
        device = await find_treadmill()
        async with BleakClient(device, bluez={"adapter": CLIENT_ADAPTER}) as client:
            feature = await client.read_gatt_char(FEATURE)
            assert int.from_bytes(feature[4:8], "little") & 0x01  # speed target setting
            assert bytes(await client.read_gatt_char(SPEED_RANGE)) == bytes.fromhex(
                "3200 4006 0a00"
            )

            data: asyncio.Queue[bytes] = asyncio.Queue()
            status: asyncio.Queue[bytes] = asyncio.Queue()
            answers: asyncio.Queue[bytes] = asyncio.Queue()
            hr: asyncio.Queue[bytes] = asyncio.Queue()
            await client.start_notify(TREADMILL_DATA, lambda _, d: data.put_nowait(bytes(d)))
            await client.start_notify(STATUS, lambda _, d: status.put_nowait(bytes(d)))
            await client.start_notify(CONTROL_POINT, lambda _, d: answers.put_nowait(bytes(d)))
            await client.start_notify(HEART_RATE, lambda _, d: hr.put_nowait(bytes(d)))

            for request in ("00", "02 f4 01", "07"):  # request control, 5.00 km/h, start
                await client.write_gatt_char(CONTROL_POINT, bytes.fromhex(request), response=True)
                answer = await asyncio.wait_for(answers.get(), 5)
                assert answer == bytes([0x80, bytes.fromhex(request)[0], 0x01])

            speeds: list[float] = []
            async with asyncio.timeout(20):
                while not speeds or speeds[-1] < 5.0:
                    speed, distance = speed_and_distance(await data.get())
                    assert speed is not None
                    speeds.append(speed)
            assert speeds == sorted(speeds)
            assert len([s for s in speeds if 0 < s < 5.0]) >= 2  # it ramped
            assert distance is not None
            assert distance > 0
            assert (await asyncio.wait_for(hr.get(), 5))[1] > 0

            async with asyncio.timeout(20):  # the console "+" x4 at 20 simulated s
                while await status.get() != bytes.fromhex("05 bc 02"):  # 7.00 km/h
                    pass
            async with asyncio.timeout(10):
                while speed_and_distance(await data.get())[0] != 7.0:
                    pass


async def test_retrogate_sim_command_advertises_and_stops_cleanly(bluezoo: BlueZoo) -> None:
    """``retrogate sim`` as a user runs it: found by plain bleak, Ctrl-C stops it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "sim",
        "--adapter",
        SIM_ADAPTER,
        "--name",
        "treadmill under test",
        "--no-hr",
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(20):
            while b"advertising" not in (line := await process.stderr.readline()):
                assert line, "retrogate sim exited before advertising"
        device = await find_treadmill()
        assert device.name == "treadmill under test"
        async with BleakClient(device, bluez={"adapter": CLIENT_ADAPTER}) as client:
            uuids = {s.uuid for s in client.services}
            assert FTMS in uuids
            assert "0000180d-0000-1000-8000-00805f9b34fb" not in uuids  # --no-hr
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 10) == 0
