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
    """Connect, look at the services on the device itself (whether or not it advertised
    them), read the features (bonding if refused for lack of it); a report to print.

    LinkError when the device cannot be reached or has no Fitness Machine service.
    """
    device = await find(address, adapter, timeout_s)
    try:
        async with BleakClient(device, bluez={"adapter": adapter}) as client:
            uuids = {c.uuid.lower() for service in client.services for c in service.characteristics}
            if U.FITNESS_MACHINE_FEATURE not in uuids:
                raise LinkError(
                    f"{address}: no Fitness Machine service (FTMS) on the device: "
                    "retrogate cannot read this treadmill"
                )
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
    return f"{address}{bonded}: " + describe(uuids, feature.target_settings)


_OPTIONAL = (
    (U.SUPPORTED_SPEED_RANGE, "speed range"),
    (U.FITNESS_MACHINE_STATUS, "status"),
    (U.TRAINING_STATUS, "training status"),
    (U.FITNESS_MACHINE_CONTROL_POINT, "control point"),
)


def describe(uuids: set[str], targets: tuple[str, ...]) -> str:
    """What a treadmill offers, in words, and what that means (docs/hardware.md)."""
    has = [name for uuid, name in _OPTIONAL if uuid in uuids]
    lacks = [name for uuid, name in _OPTIONAL if uuid not in uuids]
    words = ["FTMS treadmill"]
    words.append(f"with {', '.join(has)}" if has else "with Treadmill Data only")
    if lacks:
        words.append(f"(no {', '.join(lacks)})")
    extras = [
        name
        for uuid, name in (
            (U.HEART_RATE_MEASUREMENT, "heart rate"),
            (U.RSC_MEASUREMENT, "running speed and cadence"),
        )
        if uuid in uuids
    ]
    if extras:
        words.append(f"; also {' and '.join(extras)}")
    if U.FITNESS_MACHINE_CONTROL_POINT not in uuids:
        words.append(
            "; WARNING it takes no commands: watch mode, the cap cannot be enforced "
            "(you set the speed by hand)"
        )
    elif "speed" not in targets:
        words.append("; WARNING it does not accept speed targets, so the cap cannot be enforced")
    else:
        words.append("; accepts speed targets")
    return " ".join(words).replace(" ;", ";")
