"""Run a :class:`SimulatedStation` as a BLE peripheral through BlueZ's D-Bus API.

Registers a GATT application (Fitness Machine, Heart Rate, Battery, Device
Information) and an advertisement carrying FTMS Service Data on one adapter.
Works the same on BlueZoo (tests) and on real BlueZ with a radio, where a
phone app or the gateway on another machine can connect to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from gateway.clock import Clock
from gateway.errors import RetrogateError
from gateway.ftms import uuids as U

from ..station import Drop, Note, Notify, Outgoing, SimulatedStation
from .gatt import Advertisement, GattCharacteristic, GattService

log = logging.getLogger(__name__)

ROOT = "/org/retrogate/sim"
BLUEZ = "org.bluez"

# (service, characteristic, flags)
FTMS_TABLE = [
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
HR_TABLE = [
    (U.HEART_RATE_SERVICE, U.HEART_RATE_MEASUREMENT, ["notify"]),
    (U.HEART_RATE_SERVICE, U.BODY_SENSOR_LOCATION, ["read"]),
    (U.BATTERY_SERVICE, U.BATTERY_LEVEL, ["read", "notify"]),
]


DEVICE_CHANGES = (
    "type='signal',sender='org.bluez',interface='org.freedesktop.DBus.Properties',"
    "member='PropertiesChanged',arg0='org.bluez.Device1'"
)


class PeripheralError(RetrogateError):
    """BlueZ refused to host the simulator (no adapter, registration failed)."""


class BluezPeripheral:
    """The station's GATT table, advertisement and clock loop on one adapter."""

    def __init__(self, station: SimulatedStation, clock: Clock, adapter: str = "hci0") -> None:
        self.station = station
        self.clock = clock
        self.adapter_path = f"/org/bluez/{adapter}"
        self.characteristics: dict[str, GattCharacteristic] = {}
        self._pending: set[str] = set()  # clients with a control-point procedure in flight
        self._tasks: set[asyncio.Task[None]] = set()
        self.ready = asyncio.Event()
        self.moved = asyncio.Event()  # set after every advance and write: for watchers
        self._bus: MessageBus | None = None

    # --- life cycle -------------------------------------------------------------------

    async def run(self) -> None:
        """Register with BlueZ and serve until cancelled."""
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        self._bus = bus
        try:
            self._export(bus)
            await self._register(bus)
            bus.add_message_handler(self._on_signal)
            await self._call(
                bus,
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "AddMatch",
                "s",
                [DEVICE_CHANGES],
                destination="org.freedesktop.DBus",
            )
            self.station.begin(self.clock.now())
            log.info("advertising %r on %s", self.station.spec.info.name, self.adapter_path)
            self.ready.set()
            while True:
                self._deliver(self.station.advance(self.clock.now()))
                await self.clock.sleep(self.station.next_due() - self.clock.now())
        finally:
            for task in self._tasks:
                task.cancel()
            bus.disconnect()

    def _export(self, bus: MessageBus) -> None:
        table = FTMS_TABLE + (HR_TABLE if self.station.spec.with_hr else [])
        if not self.station.spec.with_incline:
            table = [row for row in table if row[1] != U.SUPPORTED_INCLINATION_RANGE]
        services: dict[str, GattService] = {}
        for service_uuid, uuid, flags in table:
            if service_uuid not in services:
                service = GattService(f"{ROOT}/service{len(services)}", service_uuid)
                services[service_uuid] = service
                bus.export(service.path, service)
            service = services[service_uuid]
            char = GattCharacteristic(
                f"{service.path}/char{len(self.characteristics)}",
                uuid,
                service,
                flags,
                self.station.read,
                self._on_write,
                self._on_notify,
            )
            self.characteristics[uuid] = char
            bus.export(char.path, char)
        advert = Advertisement(
            f"{ROOT}/advertisement0",
            self.station.spec.info.name,
            [U.FITNESS_MACHINE_SERVICE]
            + ([U.HEART_RATE_SERVICE] if self.station.spec.with_hr else []),
            {
                U.FITNESS_MACHINE_SERVICE: bytes(
                    (U.FTMS_AVAILABLE_FLAG, U.MACHINE_TYPE_TREADMILL, 0)
                )
            },
        )
        bus.export(advert.path, advert)

    async def _register(self, bus: MessageBus) -> None:
        try:
            await self._call(
                bus,
                self.adapter_path,
                "org.bluez.GattManager1",
                "RegisterApplication",
                "oa{sv}",
                [ROOT, {}],
            )
            await self._call(
                bus,
                self.adapter_path,
                "org.bluez.LEAdvertisingManager1",
                "RegisterAdvertisement",
                "oa{sv}",
                [f"{ROOT}/advertisement0", {}],
            )
        except PeripheralError as exc:
            raise PeripheralError(
                f"cannot host the simulator on {self.adapter_path}: {exc} "
                "(is bluetoothd running and the adapter powered? `bluetoothctl list`)"
            ) from exc

    async def _call(
        self,
        bus: MessageBus,
        path: str,
        interface: str,
        member: str,
        signature: str,
        body: list[Any],
        destination: str = BLUEZ,
    ) -> Any:
        message = Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=body,
        )
        reply = await bus.call(message)
        if reply is None or reply.message_type is MessageType.ERROR:
            detail = reply.body[0] if reply is not None and reply.body else "no reply"
            name = reply.error_name if reply is not None else "no reply"
            raise PeripheralError(f"{interface}.{member}: {name}: {detail}")
        return reply.body

    # --- traffic ------------------------------------------------------------------------

    def _deliver(self, outgoing: list[Outgoing]) -> None:
        self.moved.set()
        for item in outgoing:
            if isinstance(item, Notify):
                char = self.characteristics.get(item.uuid)
                if char is not None:
                    char.notify(item.data)
            elif isinstance(item, Drop):
                log.info("dropping connections: %s", item.reason)
                self._spawn(self._disconnect_all())
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

    def _on_notify(self, uuid: str, enabled: bool) -> None:
        log.info("%s notifications %s", uuid[4:8], "on" if enabled else "off")

    def _on_signal(self, message: Message) -> bool:
        """A Device1 went away: it no longer holds control."""
        if message.member == "PropertiesChanged" and message.path and message.body:
            changed = message.body[1]
            connected = changed.get("Connected")
            if connected is not None and not connected.value:
                log.info("client %s disconnected", message.path)
                self.station.client_left(message.path)
                self._pending.discard(message.path)
        return False

    async def _disconnect_all(self) -> None:
        assert self._bus is not None
        (objects,) = await self._call(
            self._bus, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", "", []
        )
        for path, interfaces in objects.items():
            device = interfaces.get("org.bluez.Device1")
            if path.startswith(self.adapter_path + "/") and device and device["Connected"].value:
                with contextlib.suppress(PeripheralError):
                    await self._call(self._bus, path, "org.bluez.Device1", "Disconnect", "", [])

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
