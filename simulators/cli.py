"""``retrogate sim``: the simulated treadmill as a real BLE peripheral.

Plugged into the ``retrogate`` command through the ``retrogate.commands``
entry point, so the gateway never imports the simulator.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

# Kept here (not imported from .station) so that building the parser stays light.
PROFILE_NAMES = (
    "standard",
    "no-speed-range",
    "no-status",
    "no-control-point",
    "control-refused",
    "no-advertised-uuid",
)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``sim``."""
    from gateway.argtypes import positive_number

    parser = sub.add_parser(
        "sim",
        help="run the simulated treadmill (and HR strap) as a BLE peripheral on BlueZ",
        description=(
            "Advertise a simulated FTMS treadmill with a heart-rate strap on a BlueZ "
            "adapter (real, or BlueZoo in tests) and log what it does. Ctrl-C stops it."
        ),
    )
    parser.add_argument("--adapter", default="hci0", help="BlueZ adapter to use (default hci0)")
    parser.add_argument("--name", default="retrogate sim", help="advertised name")
    parser.add_argument("--scenario", type=Path, help="TOML file of scripted faults")
    parser.add_argument("--no-hr", action="store_true", help="offer no heart-rate service")
    parser.add_argument(
        "--profile",
        default="standard",
        choices=PROFILE_NAMES,
        help="a treadmill without the optional parts (docs/simulator.md)",
    )
    parser.add_argument("--rate", type=float, default=1.0, help="treadmill data per second")
    parser.add_argument(
        "--speedup", type=positive_number, default=1.0, help="run the clock N times faster"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build the station from the options and serve it until interrupted."""
    import asyncio

    from dbus_fast.errors import DBusError

    from gateway.clock import LoopClock

    from .bluez.peripheral import BluezPeripheral, PeripheralError
    from .scenario import Scenario, ScenarioError, load_scenario
    from .station import DeviceInfo, SimulatedStation, StationSpec, with_profile

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        scenario = load_scenario(args.scenario) if args.scenario else Scenario()
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.rate <= 0 or args.speedup <= 0:
        print("error: --rate and --speedup must be positive", file=sys.stderr)
        return 2
    spec = replace(
        with_profile(StationSpec(), args.profile),
        info=DeviceInfo(name=args.name),
        with_hr=not args.no_hr,
        treadmill_rate_hz=args.rate,
    )
    peripheral = BluezPeripheral(
        SimulatedStation(scenario, spec), LoopClock(args.speedup), args.adapter
    )
    try:
        asyncio.run(peripheral.run())
    except KeyboardInterrupt:
        return 0
    except (PeripheralError, DBusError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:  # no system bus to connect to
        print(
            f"error: cannot reach the D-Bus system bus ({exc}); "
            "is BlueZ installed and running (systemctl status bluetooth)?",
            file=sys.stderr,
        )
        return 1
    return 0
