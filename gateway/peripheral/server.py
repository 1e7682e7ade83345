"""A GATT application and its advertisement on one adapter, through BlueZ's D-Bus API.

The simulator hosts a treadmill with it, and the bridge hosts retrogate's
virtual treadmill (``gateway.bridge``). What a characteristic answers and
does on a write is the owner's business (``on_read``, ``on_write``); this
class knows BlueZ: the object tree, registration, notifications as
``PropertiesChanged`` on ``Value``, and which client went away.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from ..bluez import close_bus
from ..errors import RetrogateError
from .gatt import Advertisement, GattCharacteristic, GattService, ReadHandler, WriteHandler

log = logging.getLogger(__name__)

BLUEZ = "org.bluez"
DEVICE_CHANGES = (
    "type='signal',sender='org.bluez',interface='org.freedesktop.DBus.Properties',"
    "member='PropertiesChanged',arg0='org.bluez.Device1'"
)
Row = tuple[str, str, list[str]]  # (service UUID, characteristic UUID, flags)


class PeripheralError(RetrogateError):
    """BlueZ refused to host the application (no adapter, registration failed)."""


@dataclass(frozen=True)
class AdvertSpec:
    """What the advertisement carries: how apps find and classify the device."""

    name: str
    service_uuids: list[str]
    service_data: dict[str, bytes] = field(default_factory=dict)
    appearance: int | None = None


class GattServer:
    """Characteristics by UUID on one adapter, registered with BlueZ while running."""

    def __init__(
        self,
        root: str,
        adapter: str,
        table: list[Row],
        advert: AdvertSpec,
        on_read: ReadHandler,
        on_write: WriteHandler,
        *,
        on_left: Callable[[str], None] | None = None,
        on_notify: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.root = root
        self.adapter = adapter
        self.adapter_path = f"/org/bluez/{adapter}"
        self.table = table
        self.advert = advert
        self.characteristics: dict[str, GattCharacteristic] = {}
        self._on_read = on_read
        self._on_write = on_write
        self._on_left = on_left
        self._on_notify = on_notify
        self._bus: MessageBus | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[GattServer]:
        """Registered and advertising for the duration of the block."""
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        self._bus = bus
        try:
            self._export(bus)
            await self._register(bus)
            bus.add_message_handler(self._on_signal)
            await self.call(
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "AddMatch",
                "s",
                [DEVICE_CHANGES],
                destination="org.freedesktop.DBus",
            )
            yield self
        finally:
            self._bus = None
            await close_bus(bus)

    def notify(self, uuid: str, data: bytes) -> None:
        """Notify (or indicate) ``data`` to the clients that subscribed to ``uuid``."""
        char = self.characteristics.get(uuid)
        if char is not None:
            char.notify(data)

    def subscribed(self, uuid: str) -> bool:
        """Whether a client listens to ``uuid``."""
        char = self.characteristics.get(uuid)
        return char is not None and char.notifying

    async def disconnect_all(self) -> None:
        """Drop every client connected to this adapter."""
        (objects,) = await self.call(
            "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", "", []
        )
        for path, interfaces in objects.items():
            device = interfaces.get("org.bluez.Device1")
            if path.startswith(self.adapter_path + "/") and device and device["Connected"].value:
                with contextlib.suppress(PeripheralError):
                    await self.call(path, "org.bluez.Device1", "Disconnect", "", [])

    async def call(
        self,
        path: str,
        interface: str,
        member: str,
        signature: str,
        body: list[Any],
        destination: str = BLUEZ,
    ) -> Any:
        """One D-Bus method call on the running bus; PeripheralError on an error reply."""
        if self._bus is None:
            raise PeripheralError("the GATT server is not running")
        message = Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=body,
        )
        reply = await self._bus.call(message)
        if reply is None or reply.message_type is MessageType.ERROR:
            detail = reply.body[0] if reply is not None and reply.body else "no reply"
            name = reply.error_name if reply is not None else "no reply"
            raise PeripheralError(f"{interface}.{member}: {name}: {detail}")
        return reply.body

    def _export(self, bus: MessageBus) -> None:
        services: dict[str, GattService] = {}
        for service_uuid, uuid, flags in self.table:
            if service_uuid not in services:
                service = GattService(f"{self.root}/service{len(services)}", service_uuid)
                services[service_uuid] = service
                bus.export(service.path, service)
            service = services[service_uuid]
            char = GattCharacteristic(
                f"{service.path}/char{len(self.characteristics)}",
                uuid,
                service,
                flags,
                self._on_read,
                self._on_write,
                self._notifying,
            )
            self.characteristics[uuid] = char
            bus.export(char.path, char)
        a = self.advert
        advert = Advertisement(
            f"{self.root}/advertisement0", a.name, a.service_uuids, a.service_data, a.appearance
        )
        bus.export(advert.path, advert)

    async def _register(self, bus: MessageBus) -> None:
        try:
            await self.call(
                self.adapter_path, "org.bluez.GattManager1", "RegisterApplication", "oa{sv}",
                [self.root, {}],
            )  # fmt: skip
            await self.call(
                self.adapter_path,
                "org.bluez.LEAdvertisingManager1",
                "RegisterAdvertisement",
                "oa{sv}",
                [f"{self.root}/advertisement0", {}],
            )
        except PeripheralError as exc:
            raise PeripheralError(
                f"cannot host {self.advert.name!r} on {self.adapter_path}: {exc} "
                "(is bluetoothd running and the adapter powered? `bluetoothctl list`)"
            ) from exc

    def _notifying(self, uuid: str, enabled: bool) -> None:
        log.debug("%s notifications %s", uuid[4:8], "on" if enabled else "off")
        if self._on_notify is not None:
            self._on_notify(uuid, enabled)

    def _on_signal(self, message: Message) -> bool:
        """A Device1 went away: tell the owner which client left."""
        if message.member == "PropertiesChanged" and message.path and message.body:
            changed = message.body[1]
            connected = changed.get("Connected")
            if (
                connected is not None
                and not connected.value
                and message.path.startswith(self.adapter_path + "/")
            ):
                log.info("client %s disconnected", message.path)
                if self._on_left is not None:
                    self._on_left(message.path)
        return False
