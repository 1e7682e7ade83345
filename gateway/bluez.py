"""BlueZ's object tree over D-Bus (dbus_fast), without bleak.

``doctor`` reads it to say what is wrong with Bluetooth, and the simulator's
BlueZoo environment to know when its adapters are up; the simulator side must
never reach bleak, so this stands apart from ``gateway.ble``.
"""

from __future__ import annotations

from typing import Any

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from .errors import RetrogateError

Objects = dict[str, dict[str, dict[str, Any]]]  # path -> interface -> property -> value


class BlueZError(RetrogateError):
    """BlueZ did not answer, or answered with a D-Bus error (``name``: its error name)."""

    def __init__(self, name: str) -> None:
        super().__init__(name or "no answer from org.bluez")
        self.name = name


async def managed_objects(bus_address: str | None = None) -> Objects:
    """Every BlueZ object with its properties as plain values.

    Raises PermissionError, OSError or ValueError when the bus cannot be reached,
    and :class:`BlueZError` when BlueZ does not answer properly.
    """
    bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
    try:
        reply = await bus.call(
            Message(
                destination="org.bluez",
                path="/",
                interface="org.freedesktop.DBus.ObjectManager",
                member="GetManagedObjects",
            )
        )
    finally:
        bus.disconnect()
    if reply is None:
        raise BlueZError("")
    if reply.message_type is not MessageType.METHOD_RETURN:
        raise BlueZError(reply.error_name or "an unexpected reply")
    return {
        path: {iface: {k: v.value for k, v in props.items()} for iface, props in ifaces.items()}
        for path, ifaces in reply.body[0].items()
    }
