"""BlueZ's object tree over D-Bus (dbus_fast), without bleak.

``doctor`` reads it to say what is wrong with Bluetooth, and the simulator's
BlueZoo environment to know when its adapters are up; the simulator side must
never reach bleak, so this stands apart from ``gateway.ble``.
"""

from __future__ import annotations

import asyncio
import contextlib
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


async def close_bus(bus: MessageBus, timeout_s: float = 2.0) -> None:
    """Disconnect and wait until the socket is closed: ``disconnect()`` only shuts it
    down, and a loop that ends first leaves it to the garbage collector (a
    ResourceWarning in some later test, found by CI)."""
    bus.disconnect()
    with contextlib.suppress(Exception):  # it was going away anyway: nothing to report
        async with asyncio.timeout(timeout_s):
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


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
        await close_bus(bus)
    if reply is None:
        raise BlueZError("")
    if reply.message_type is not MessageType.METHOD_RETURN:
        raise BlueZError(reply.error_name or "an unexpected reply")
    return {
        path: {iface: {k: v.value for k, v in props.items()} for iface, props in ifaces.items()}
        for path, ifaces in reply.body[0].items()
    }
