"""What stands between this machine and the treadmill, each with the fix.

The failures a new user meets in the first hour (no D-Bus, BlueZ not
running, no permission, no adapter, adapter off, device never seen), told
apart by their D-Bus errors rather than lumped into "cannot connect".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .. import bluez
from ..config import StationConfig


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def paired_devices(stations: Iterable[StationConfig]) -> dict[str, str]:
    """Each real device of the configured stations, by a name for the report.

    Once per address: a treadmill that is also the heart-rate source is one
    device ("lane-1 treadmill and HR"), checked and reported once.
    """
    names: dict[str, str] = {}
    for station in stations:
        for kind, address in (("treadmill", station.treadmill), ("HR strap", station.hrm)):
            if address is None or address.lower().startswith("sim"):
                continue
            key = address.upper()
            names[key] = f"{names[key]} and HR" if key in names else f"{station.id} {kind}"
    return {name: address for address, name in names.items()}


async def managed_objects(
    bus_address: str | None,
) -> tuple[dict[str, Any] | None, Check | None]:
    """BlueZ's object tree as plain values, or the check that says why not."""
    try:
        return await bluez.managed_objects(bus_address), None
    except PermissionError as exc:
        return None, Check(
            "D-Bus", False, f"no permission on the system bus ({exc})", "run as a user in the "
            "'bluetooth' group: sudo usermod -aG bluetooth $USER, then log out and in"
        )  # fmt: skip
    except (OSError, ValueError) as exc:
        return None, Check(
            "D-Bus",
            False,
            f"the system bus is not reachable ({exc})",
            "sudo apt-get install dbus && sudo systemctl start dbus",
        )
    except bluez.BlueZError as exc:
        return None, _bluez_problem(exc.name)


def _bluez_problem(error: str) -> Check:
    """What an error answer from BlueZ means, and what to do about it."""
    if not error:
        return Check("BlueZ", False, "no answer from org.bluez", "sudo systemctl restart bluetooth")
    if "AccessDenied" in error:
        return Check(
            "BlueZ", False, "D-Bus denies access to BlueZ", "add your user to the 'bluetooth' "
            "group: sudo usermod -aG bluetooth $USER, then log out and in"
        )  # fmt: skip
    if "ServiceUnknown" in error or "NameHasNoOwner" in error:
        return Check(
            "BlueZ",
            False,
            "BlueZ (bluetoothd) is not running",
            "sudo apt-get install bluez && sudo systemctl enable --now bluetooth",
        )
    return Check("BlueZ", False, f"BlueZ answered {error}", "sudo systemctl restart bluetooth")


async def bluetooth_checks(
    adapter: str, devices: dict[str, str], bus_address: str | None = None
) -> list[Check]:
    """D-Bus, BlueZ, the adapter, and each configured device (name -> address)."""
    objects, problem = await managed_objects(bus_address)
    if objects is None:
        assert problem is not None
        return [problem]
    checks = [Check("BlueZ", True, "bluetoothd answers on the system bus")]
    adapters = {
        path.rsplit("/", 1)[-1]: ifaces["org.bluez.Adapter1"]
        for path, ifaces in objects.items()
        if "org.bluez.Adapter1" in ifaces
    }
    if not adapters:
        checks.append(
            Check(
                "adapter",
                False,
                "no Bluetooth adapter",
                "plug in a Bluetooth 4.0+ USB dongle, or check `rfkill list` and "
                "`bluetoothctl list`",
            )
        )
        return checks
    if adapter not in adapters:
        checks.append(
            Check(
                "adapter",
                False,
                f"{adapter} not found (this machine has {', '.join(sorted(adapters))})",
                f'set adapter = "{sorted(adapters)[0]}" in the config',
            )
        )
        return checks
    props = adapters[adapter]
    if not props.get("Powered"):
        checks.append(
            Check(
                "adapter",
                False,
                f"{adapter} ({props.get('Address')}) is powered off",
                "rfkill unblock bluetooth && bluetoothctl power on",
            )
        )
    else:
        checks.append(Check("adapter", True, f"{adapter} ({props.get('Address')}) powered on"))
    known = {
        str(ifaces["org.bluez.Device1"].get("Address", "")).upper(): ifaces["org.bluez.Device1"]
        for ifaces in objects.values()
        if "org.bluez.Device1" in ifaces
    }
    for name, address in devices.items():
        device = known.get(address.upper())
        if device is None:
            checks.append(
                Check(
                    name,
                    False,
                    f"{address} has not been seen by BlueZ",
                    "switch the device on (a treadmill often advertises only with its console "
                    "awake), then `retrogate scan`, or pair again with `retrogate pair`",
                )
            )
        else:
            checks.append(Check(name, True, f"{address} {device.get('Name') or ''}".strip()))
    return checks
