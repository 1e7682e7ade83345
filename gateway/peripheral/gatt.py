"""BlueZ GATT server objects (``org.bluez.GattService1`` / ``GattCharacteristic1``).

What BlueZ and BlueZoo need, learned the hard way (ARCHITECTURE.md): every
characteristic exposes ``Value`` and ``Notifying`` besides ``UUID``,
``Service`` and ``Flags``; notifications are ``PropertiesChanged`` on
``Value``; BlueZoo confirms every value change, so every characteristic has
``Confirm``, not only the indicating ones.
"""

# No ``from __future__ import annotations`` here: dbus-fast reads the
# signatures from the evaluated annotations, and a string "None" breaks it.
from collections.abc import Callable
from typing import Annotated

from dbus_fast import DBusError, Variant
from dbus_fast.annotations import (
    DBusBool,
    DBusBytes,
    DBusDict,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt16,
)
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

DBusStrList = Annotated[list[str], DBusSignature("as")]

ReadHandler = Callable[[str], bytes]
WriteHandler = Callable[[str, bytes, str], None]  # uuid, value, client device path
NotifyHandler = Callable[[str, bool], None]


class GattService(ServiceInterface):
    """A primary service."""

    def __init__(self, path: str, uuid: str) -> None:
        super().__init__("org.bluez.GattService1")
        self.path = path
        self._uuid = uuid

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:
        return True


class GattCharacteristic(ServiceInterface):
    """One characteristic; reads and writes go to the handlers given."""

    def __init__(
        self,
        path: str,
        uuid: str,
        service: GattService,
        flags: list[str],
        on_read: ReadHandler,
        on_write: WriteHandler,
        on_notify: NotifyHandler,
    ) -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self.path = path
        self.uuid = uuid
        self._service = service
        self._flags = flags
        self._on_read = on_read
        self._on_write = on_write
        self._on_notify = on_notify
        self._value = b""
        self.notifying = False

    def notify(self, value: bytes) -> None:
        """Send a notification or indication (a change of ``Value``)."""
        self._value = value
        if self.notifying:
            self.emit_properties_changed({"Value": value})

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        try:
            self._value = self._on_read(self.uuid)
        except KeyError:
            raise DBusError("org.bluez.Error.NotPermitted", "read not permitted") from None
        return self._value

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict) -> None:
        device = options.get("device")
        client = str(device.value) if isinstance(device, Variant) else "unknown"
        try:
            self._on_write(self.uuid, bytes(value), client)
        except KeyError:
            raise DBusError("org.bluez.Error.NotPermitted", "write not permitted") from None
        except RuntimeError as exc:  # one procedure at a time
            raise DBusError("org.bluez.Error.InProgress", str(exc)) from None

    @dbus_method()
    def StartNotify(self) -> None:
        self.notifying = True
        self._on_notify(self.uuid, True)
        self.emit_properties_changed({"Notifying": True})

    @dbus_method()
    def StopNotify(self) -> None:
        self.notifying = False
        self._on_notify(self.uuid, False)
        self.emit_properties_changed({"Notifying": False})

    @dbus_method()
    def Confirm(self) -> None:
        """The client confirmed an indication; nothing to do."""

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:
        return self._service.path

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> DBusStrList:
        return self._flags

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self._value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> DBusBool:
        return self.notifying


class Advertisement(ServiceInterface):
    """An ``org.bluez.LEAdvertisement1``: name, services, Service Data and appearance."""

    def __init__(
        self,
        path: str,
        name: str,
        service_uuids: list[str],
        service_data: dict[str, bytes],
        appearance: int | None = None,
    ) -> None:
        super().__init__("org.bluez.LEAdvertisement1")
        self.path = path
        self._name = name
        self._uuids = service_uuids
        self._data = service_data
        self._appearance = appearance

    @dbus_method()
    def Release(self) -> None:
        """BlueZ dropped the advertisement."""

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return "peripheral"

    @dbus_property(access=PropertyAccess.READ)
    def LocalName(self) -> DBusStr:
        return self._name

    @dbus_property(access=PropertyAccess.READ)
    def ServiceUUIDs(self) -> DBusStrList:
        return self._uuids

    @dbus_property(access=PropertyAccess.READ)
    def ServiceData(self) -> DBusDict:
        return {uuid: Variant("ay", data) for uuid, data in self._data.items()}

    @dbus_property(access=PropertyAccess.READ)
    def Includes(self) -> DBusStrList:
        return ["tx-power"] + (["appearance"] if self._appearance is not None else [])

    @dbus_property(access=PropertyAccess.READ)
    def Appearance(self) -> DBusUInt16:
        return self._appearance or 0

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> DBusBool:
        """General discoverable: scanners see us without the adapter being discoverable."""
        return True
