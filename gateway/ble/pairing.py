"""Checking a chosen treadmill, and bonding when the device asks for it."""

from __future__ import annotations

from bleak import BleakClient
from bleak.exc import BleakError

from ..ftms import FtmsDecodeError, decode_feature
from ..ftms import uuids as U
from ..link import LinkError
from .scan import find

_AUTH_WORDS = ("authentication", "authorization", "notpermitted", "not permitted", "encryption")


async def check_treadmill(address: str, adapter: str, timeout_s: float = 20.0) -> str:
    """Connect, read the features (bonding if refused for lack of it); a one-line report."""
    device = await find(address, adapter, timeout_s)
    try:
        async with BleakClient(device, bluez={"adapter": adapter}) as client:
            try:
                raw = await client.read_gatt_char(U.FITNESS_MACHINE_FEATURE)
            except BleakError as exc:
                if not any(word in str(exc).lower() for word in _AUTH_WORDS):
                    raise
                await client.pair()
                raw = await client.read_gatt_char(U.FITNESS_MACHINE_FEATURE)
                bonded = " (bonded)"
            else:
                bonded = ""
    except BleakError as exc:
        raise LinkError(f"{address}: {exc}") from exc
    try:
        feature = decode_feature(bytes(raw))
    except FtmsDecodeError as exc:
        raise LinkError(f"{address}: not a fitness machine ({exc})") from exc
    if "speed" not in feature.target_settings:
        return (
            f"{address}{bonded}: WARNING it does not accept speed targets, "
            "so the cap cannot be enforced"
        )
    return f"{address}{bonded}: accepts speed targets"
