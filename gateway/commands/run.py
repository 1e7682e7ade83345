"""``retrogate run``: a session against the paired devices, or the simulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..service import StationReport


def summary(stations: list[StationReport]) -> str:
    """What happened, per station, for the end of a run."""
    lines = []
    for st in stations:
        s = st.snapshot
        lines.append(
            f"{st.id}: {s.distance_m or 0} m in {s.elapsed_s or 0} s, {s.energy_kcal:.0f} kcal "
            f"({s.energy_method}); backward cap {s.cap_kmh:.2f} km/h; "
            f"decode errors {st.decode_errors}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run until Ctrl-C (or --duration)."""
    import asyncio

    from ..ble.diagnose import paired_devices
    from ..errors import RetrogateError
    from ..service import RunOptions, build_service
    from ..workout.plan import PlanError, resolve_plan
    from .common import bluetooth_ready, settings_or_exit, setup_logging, voice_of

    settings = settings_or_exit(args)
    if settings is None:
        return 2
    plan = None
    if args.plan:
        try:
            plan = resolve_plan(args.plan, settings.plans_dir)
        except PlanError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    setup_logging(args.verbose)
    devices = paired_devices(settings.stations)
    if not args.sim and devices and not bluetooth_ready(settings.adapter, devices):
        return 2
    options = RunOptions(
        plan=plan,
        sim=args.sim,
        scenario=args.scenario,
        profile=args.profile,
        duration_s=args.duration,
        status_line=not args.no_status,
        mqtt=not args.no_mqtt,
        speedup=args.speedup,
        voice=voice_of(settings, args),
    )
    service = build_service(settings, options)
    try:
        asyncio.run(service.run())
    except KeyboardInterrupt:
        pass
    except RetrogateError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    print("\n" + summary(service.report()))
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``run``."""
    from ..argtypes import positive_number
    from .common import add_config_option, add_voice_options

    parser = sub.add_parser(
        "run",
        help="run a session: read the treadmill, govern the speed, follow a plan",
        description="Run a session against the paired devices (or --sim). Ctrl-C stops "
        "cleanly, slowing the belt first if a backward segment is running.",
    )
    add_config_option(parser)
    parser.add_argument(
        "--plan",
        help="builtin plan, a plan in the plans folder by name (next: the coach's), or a TOML file "
        "(default: free mode)",
    )
    parser.add_argument("--sim", action="store_true", help="use the in-process simulator")
    parser.add_argument("--scenario", type=Path, help="simulator fault scenario (with --sim)")
    parser.add_argument(
        "--profile",
        help="the simulated machine, with --sim: no-speed-range, no-status, no-control-point, "
        "control-refused or no-advertised-uuid (docs/simulator.md)",
    )
    parser.add_argument(
        "--speedup", type=positive_number, default=1.0, help="run the clock N times faster"
    )
    parser.add_argument("--duration", type=float, help="stop after this many (session) seconds")
    parser.add_argument("--no-status", action="store_true", help="no live status line")
    parser.add_argument(
        "--no-mqtt", action="store_true", help="no broker at all (the session is still recorded)"
    )
    add_voice_options(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.set_defaults(run=run)
