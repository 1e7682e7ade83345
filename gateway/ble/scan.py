"""Finding treadmills and heart-rate straps.

The callback is given to the scanner's constructor: BlueZ (and BlueZoo)
may report a device once, before StartDiscovery returns, and a listener
added after ``start`` misses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from ..ftms import uuids as U
from ..link import LinkError
from .diagnose import managed_objects


@dataclass(frozen=True, slots=True)
class Found:
    """A device worth listing: what it is and how strong it is."""

    address: str
    name: str
    rssi: int
    treadmill: bool
    heart_rate: bool

    @property
    def offers(self) -> str:
        """Human words for what the device offers."""
        kinds = []
        if self.treadmill:
            kinds.append("treadmill (FTMS)")
        if self.heart_rate:
            kinds.append("heart rate")
        if not kinds:
            kinds.append("(no fitness service advertised)")
        return ", ".join(kinds)


def classify(device: BLEDevice, adv: AdvertisementData, *, every: bool = False) -> Found | None:
    """A Found for a treadmill or HR strap (``every``: any device with a name); None for
    anything else. Some treadmills advertise no fitness service at all: ``scan --all``
    lists them, and ``pair --treadmill ADDRESS`` checks the device itself."""
    uuids = {u.lower() for u in adv.service_uuids}
    service_data = adv.service_data.get(U.FITNESS_MACHINE_SERVICE)
    treadmill = U.FITNESS_MACHINE_SERVICE in uuids
    if service_data is not None and len(service_data) >= 3:
        # FTMS Service Data: flags, then machine type; bit 0 = treadmill.
        treadmill = bool(int.from_bytes(service_data[1:3], "little") & U.MACHINE_TYPE_TREADMILL)
    heart_rate = U.HEART_RATE_SERVICE in uuids
    named = adv.local_name or device.name
    if not (treadmill or heart_rate or (every and named)):
        return None
    name = named or "(unnamed)"
    return Found(device.address, name, adv.rssi, treadmill, heart_rate)


async def scan(
    adapter: str,
    timeout_s: float,
    on_found: Callable[[Found], None] | None = None,
    *,
    every: bool = False,
) -> dict[str, Found]:
    """Scan for ``timeout_s``; ``on_found`` hears of each device as it appears."""
    seen: dict[str, Found] = {}

    def detected(device: BLEDevice, adv: AdvertisementData) -> None:
        found = classify(device, adv, every=every)
        if found is None:
            return
        new = found.address not in seen
        seen[found.address] = found
        if new and on_found is not None:
            on_found(found)

    try:
        async with BleakScanner(detected, bluez={"adapter": adapter}):
            await asyncio.sleep(timeout_s)
    except BleakError as exc:
        raise LinkError(f"cannot scan on {adapter}: {exc}") from exc
    return seen


KNOWN_GRACE_S = 3.0  # how long to wait for a fresh advertisement of a known device


async def bluez_objects(bus_address: str | None = None) -> dict[str, Any] | None:
    """BlueZ's object tree (adapters, devices) as plain values; None if unreachable
    (``retrogate doctor`` tells why)."""
    objects, _ = await managed_objects(bus_address)
    return objects


async def known_devices(adapter: str, *, every: bool = False) -> list[Found]:
    """Treadmills and straps BlueZ already has objects for on ``adapter``.

    BlueZ does not report a known device again unless its advertisement
    changes, so a scan alone misses a treadmill paired or seen before.
    """
    found = []
    for path, interfaces in (await bluez_objects() or {}).items():
        props = interfaces.get("org.bluez.Device1")
        if not props or not path.startswith(f"/org/bluez/{adapter}/"):
            continue
        uuids = {str(u).lower() for u in props.get("UUIDs", [])}
        treadmill = U.FITNESS_MACHINE_SERVICE in uuids
        heart_rate = U.HEART_RATE_SERVICE in uuids
        if treadmill or heart_rate or (every and props.get("Name")):
            name = str(props.get("Name") or props.get("Alias") or "")
            rssi = int(props.get("RSSI", -127))
            found.append(Found(str(props["Address"]), name, rssi, treadmill, heart_rate))
    return found


async def known_device(address: str, adapter: str) -> BLEDevice | None:
    """A device BlueZ already has an object for (seen or paired before), if any.

    BlueZ does not report a known device again unless its data changes, so a
    scan alone can miss a treadmill found a minute ago by ``retrogate pair``.
    """
    for path, interfaces in (await bluez_objects() or {}).items():
        props = interfaces.get("org.bluez.Device1")
        if not props or not path.startswith(f"/org/bluez/{adapter}/"):
            continue
        if str(props.get("Address", "")).upper() == address.upper():
            return BLEDevice(props["Address"], props.get("Name"), {"path": path, "props": props})
    return None


async def find(address: str, adapter: str, timeout_s: float) -> BLEDevice:
    """The device, from a fresh advertisement or BlueZ's memory; LinkError if neither."""
    wanted = address.upper()
    loop = asyncio.get_running_loop()
    found: asyncio.Future[BLEDevice] = loop.create_future()

    def detected(device: BLEDevice, adv: AdvertisementData) -> None:
        if device.address.upper() == wanted and not found.done():
            found.set_result(device)

    try:
        async with BleakScanner(detected, bluez={"adapter": adapter}):
            known = await known_device(address, adapter)
            wait = min(KNOWN_GRACE_S, timeout_s) if known is not None else timeout_s
            try:
                return await asyncio.wait_for(found, wait)
            except TimeoutError:
                if known is not None:
                    return known
                raise
    except TimeoutError:
        raise LinkError(
            f"{address} did not show up within {timeout_s:g} s (in range? powered on?)"
        ) from None
    except BleakError as exc:
        raise LinkError(f"cannot scan on {adapter}: {exc}") from exc
