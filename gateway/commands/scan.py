"""``retrogate scan``: treadmills and heart-rate straps nearby, as they appear."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..ble import Found


def show(found: Found) -> None:
    """One line per device."""
    print(
        f"  {found.address}  {found.rssi:4d} dBm  {found.name[:24]:24}  {found.offers}", flush=True
    )


def run(args: argparse.Namespace) -> int:
    """Scan and list."""
    import asyncio

    from ..ble import scan
    from ..ble.scan import known_devices
    from ..link import LinkError
    from .common import bluetooth_ready

    if not bluetooth_ready(args.adapter):
        return 1
    print(f"Scanning on {args.adapter} for {args.timeout:g} s (Ctrl-C to stop)...", flush=True)
    try:
        seen = asyncio.run(scan(args.adapter, args.timeout, show, every=args.all))
        # BlueZ reports a device it already knows only when its advertisement changes.
        for known in asyncio.run(known_devices(args.adapter, every=args.all)):
            if known.address not in seen:
                seen[known.address] = known
                show(known)
    except KeyboardInterrupt:
        return 0
    except LinkError as exc:
        print(
            f"error: {exc}\nIs the adapter there (`bluetoothctl list`) and BlueZ running?",
            file=sys.stderr,
        )
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: cannot reach BlueZ on the D-Bus system bus: {exc}", file=sys.stderr)
        return 1
    if not seen:
        print("Nothing found. Wake the treadmill (press a key), put the strap on, and try again.")
    else:
        print(f"Found {len(seen)}. `retrogate pair` saves your choice.")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``scan``."""
    parser = sub.add_parser("scan", help="list nearby FTMS treadmills and heart-rate straps")
    parser.add_argument("--adapter", default="hci0", help="BlueZ adapter (default hci0)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to scan")
    parser.add_argument(
        "--all",
        action="store_true",
        help="every connectable device with a name (a treadmill that does not advertise FTMS "
        "is among them: pair it with `retrogate pair --treadmill ADDRESS`)",
    )
    parser.set_defaults(run=run)
