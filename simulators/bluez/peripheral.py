"""Run a :class:`SimulatedStation` as a BLE peripheral through BlueZ's D-Bus API.

Registers a GATT application (Fitness Machine, Heart Rate, Battery, Device
Information) and an advertisement carrying FTMS Service Data on one adapter.
Works the same on BlueZoo (tests) and on real BlueZ with a radio, where a
phone app or the gateway on another machine can connect to it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gateway.clock import Clock
from gateway.ftms import uuids as U
from gateway.peripheral.server import AdvertSpec, GattServer, PeripheralError, Row

from ..station import Drop, Note, Notify, Outgoing, SimulatedStation, offers

log = logging.getLogger(__name__)

ROOT = "/org/retrogate/sim"

__all__ = ["FTMS_TABLE", "HR_TABLE", "BluezPeripheral", "PeripheralError"]

# (service, characteristic, flags)
FTMS_TABLE: list[Row] = [
    (U.FITNESS_MACHINE_SERVICE, U.FITNESS_MACHINE_FEATURE, ["read"]),
    (U.FITNESS_MACHINE_SERVICE, U.TREADMILL_DATA, ["notify"]),
    (U.FITNESS_MACHINE_SERVICE, U.TRAINING_STATUS, ["read", "notify"]),
    (U.FITNESS_MACHINE_SERVICE, U.SUPPORTED_SPEED_RANGE, ["read"]),
    (U.FITNESS_MACHINE_SERVICE, U.SUPPORTED_INCLINATION_RANGE, ["read"]),
    (U.FITNESS_MACHINE_SERVICE, U.FITNESS_MACHINE_CONTROL_POINT, ["write", "indicate"]),
    (U.FITNESS_MACHINE_SERVICE, U.FITNESS_MACHINE_STATUS, ["notify"]),
    (U.DEVICE_INFORMATION_SERVICE, U.MANUFACTURER_NAME, ["read"]),
    (U.DEVICE_INFORMATION_SERVICE, U.MODEL_NUMBER, ["read"]),
    (U.DEVICE_INFORMATION_SERVICE, U.SERIAL_NUMBER, ["read"]),
    (U.DEVICE_INFORMATION_SERVICE, U.FIRMWARE_REVISION, ["read"]),
]
HR_TABLE: list[Row] = [
    (U.HEART_RATE_SERVICE, U.HEART_RATE_MEASUREMENT, ["notify"]),
    (U.HEART_RATE_SERVICE, U.BODY_SENSOR_LOCATION, ["read"]),
    (U.BATTERY_SERVICE, U.BATTERY_LEVEL, ["read", "notify"]),
]


class BluezPeripheral:
    """The station's GATT table, advertisement and clock loop on one adapter."""

    def __init__(self, station: SimulatedStation, clock: Clock, adapter: str = "hci0") -> None:
        self.station = station
        self.clock = clock
        self.adapter_path = f"/org/bluez/{adapter}"
        self._pending: set[str] = set()  # clients with a control-point procedure in flight
        self._tasks: set[asyncio.Task[None]] = set()
        self.ready = asyncio.Event()
        self.moved = asyncio.Event()  # set after every advance and write: for watchers
        spec = station.spec
        table = FTMS_TABLE + (HR_TABLE if spec.with_hr else [])
        table = [row for row in table if offers(spec, row[1])]
        uuids = [U.HEART_RATE_SERVICE] if spec.with_hr else []
        data = {}
        if spec.advertise_ftms:  # some treadmills advertise neither (pair them by address)
            uuids.insert(0, U.FITNESS_MACHINE_SERVICE)
            data = {U.FITNESS_MACHINE_SERVICE: U.TREADMILL_SERVICE_DATA}
        advert = AdvertSpec(spec.info.name, uuids, data)
        self.server = GattServer(
            ROOT, adapter, table, advert, station.read, self._on_write, on_left=self._left
        )

    # --- life cycle -------------------------------------------------------------------

    async def run(self) -> None:
        """Register with BlueZ and serve until cancelled."""
        try:
            async with self.server.running():
                self.station.begin(self.clock.now())
                log.info("advertising %r on %s", self.station.spec.info.name, self.adapter_path)
                self.ready.set()
                while True:
                    self._deliver(self.station.advance(self.clock.now()))
                    await self.clock.sleep(self.station.next_due() - self.clock.now())
        finally:
            for task in self._tasks:
                task.cancel()

    # --- traffic ------------------------------------------------------------------------

    def _deliver(self, outgoing: list[Outgoing]) -> None:
        self.moved.set()
        for item in outgoing:
            if isinstance(item, Notify):
                self.server.notify(item.uuid, item.data)
            elif isinstance(item, Drop):
                log.info("dropping connections: %s", item.reason)
                self._spawn(self.server.disconnect_all())
            elif isinstance(item, Note):
                log.info("%s", item.text)

    def _on_write(self, uuid: str, data: bytes, client: str) -> None:
        if client in self._pending:
            raise RuntimeError("procedure already in progress")
        result = self.station.write(client, uuid, data, self.clock.now())
        self._deliver(result.then)
        if result.response is None:
            return
        if result.delay_s <= 0:
            # Indicate after the write's own reply has gone out, as a device does.
            now: list[Outgoing] = [result.response]
            asyncio.get_running_loop().call_soon(self._deliver, now)
            return
        self._pending.add(client)
        response = result.response

        async def later() -> None:
            await self.clock.sleep(result.delay_s)
            self._pending.discard(client)
            self._deliver([response])

        self._spawn(later())

    def _left(self, client: str) -> None:
        """A client went away: it no longer holds control."""
        self.station.client_left(client)
        self._pending.discard(client)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
