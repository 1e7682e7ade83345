"""``retrogate pair``: choose a treadmill (and a strap) and save them in the config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..ble import Found


def _choose(kind: str, options: list[Found], wanted: str | None, ask: bool) -> Found | None:
    if wanted is not None:
        if wanted == "first":
            return options[0] if options else None
        if wanted == "none":
            return None
        match = [f for f in options if f.address.upper() == wanted.upper()]
        if not match:
            raise LookupError(f"{kind} {wanted} was not found in the scan")
        return match[0]
    if not options:
        return None
    if not ask:
        return options[0]
    for i, found in enumerate(options, start=1):
        print(f"  [{i}] {found.name} ({found.address}, {found.rssi} dBm)")
    skip = " or Enter for none" if kind == "heart-rate strap" else ""
    while True:
        answer = input(f"Which {kind}? 1-{len(options)}{skip}: ").strip()
        if not answer and skip:
            return None
        if answer.isdigit() and 1 <= int(answer) <= len(options):
            return options[int(answer) - 1]
        print(f"Please type a number from 1 to {len(options)}.")


def hr_sources(treadmill: Found, seen: list[Found]) -> list[Found]:
    """Straps, and the treadmill itself when it has a heart-rate receiver.

    Without the treadmill in the list, a machine with hand grips or a
    built-in chest-strap receiver could never be chosen, and its HR rules
    would be off without a word.
    """
    straps = [f for f in seen if f.heart_rate and not f.treadmill]
    return straps + ([treadmill] if treadmill.heart_rate else [])


def run(args: argparse.Namespace) -> int:
    """Scan, choose, check, save."""
    import asyncio

    from ..ble import Found, scan
    from ..ble.pairing import check_treadmill
    from ..ble.scan import known_devices
    from ..config import (
        MAC,
        ConfigError,
        StationConfig,
        default_config_path,
        load_config,
        save_config,
    )
    from ..link import LinkError
    from .common import bluetooth_ready
    from .scan import show

    path: Path = args.config or default_config_path()
    try:
        settings = load_config(path if path.exists() else None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not bluetooth_ready(args.adapter):
        return 1
    print(f"Scanning on {args.adapter} for {args.timeout:g} s...", flush=True)
    try:
        seen = asyncio.run(scan(args.adapter, args.timeout, show))
        for known in asyncio.run(known_devices(args.adapter)):
            if known.address not in seen:  # BlueZ knows it; it did not advertise anew
                seen[known.address] = known
        treadmills = [f for f in seen.values() if f.treadmill]
        ask = sys.stdin.isatty()
        by_address = bool(MAC.match(args.treadmill or "")) and not any(
            f.address.upper() == args.treadmill.upper() for f in treadmills
        )
        treadmill: Found | None
        if by_address:  # it did not advertise FTMS: the check below looks at the device itself
            print(f"{args.treadmill} did not advertise a treadmill: checking the device itself")
            named = seen.get(args.treadmill.upper()) or seen.get(args.treadmill)
            treadmill = Found(args.treadmill.upper(), named.name if named else "", 0, True, False)
        else:
            treadmill = _choose("treadmill", treadmills, args.treadmill, ask)
        if treadmill is None:
            print("No treadmill found. Wake it up (press a key on the console) and try again.")
            return 1
        if args.hrm is not None and args.hrm.upper() == treadmill.address.upper():
            strap: Found | None = treadmill  # its own receiver, by the user's choice
        else:
            strap = _choose(
                "heart-rate strap", hr_sources(treadmill, list(seen.values())), args.hrm, ask
            )
        if strap is None:
            print(
                "No heart-rate source chosen: the heart-rate ceiling and HR-lost "
                "protections will be OFF (unless the treadmill reports heart rate)."
            )
        if not args.no_check or by_address:
            print("Checking the treadmill...", flush=True)
            print(asyncio.run(check_treadmill(treadmill.address, args.adapter)))
    except (LookupError, LinkError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    station = StationConfig(
        id=args.station,
        treadmill=treadmill.address,
        treadmill_name=treadmill.name,
        hrm=strap.address if strap else None,
        hrm_name=strap.name if strap else None,
    )
    stations = [s for s in settings.stations if s.id != station.id] + [station]
    updated = settings.model_copy(update={"stations": stations, "adapter": args.adapter})
    save_config(updated, path)
    print(
        f"Saved station {station.id!r} to {path}. Next: `retrogate run --plan intro-backward-walk`."
    )
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``pair``."""
    parser = sub.add_parser("pair", help="choose a treadmill and strap and save them")
    parser.add_argument("--config", type=Path, help="config file to write")
    parser.add_argument("--adapter", default="hci0", help="BlueZ adapter (default hci0)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to scan")
    parser.add_argument("--station", default="treadmill", help="station id (default 'treadmill')")
    parser.add_argument("--treadmill", help="address to use, or 'first' (no prompt)")
    parser.add_argument("--hrm", help="strap address, 'first' or 'none' (no prompt)")
    parser.add_argument(
        "--no-check", action="store_true", help="do not connect to check (and bond) the treadmill"
    )
    parser.set_defaults(run=run)
