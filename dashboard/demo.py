"""``retrogate demo``: the whole system in one terminal, nothing installed beyond ``uv sync``.

Embedded broker, simulated treadmill and HR strap (in process, or as a BLE
peripheral on BlueZoo with ``--ble``), the gateway running a builtin plan,
and the dashboard. This module only registers the command: the demo, and
everything it imports, loads when it runs (``demo_run.py``), so
``retrogate --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

from gateway.argtypes import positive_number
from gateway.commands.common import add_voice_options
from simulators.cli import PROFILE_NAMES


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns 0 when metrics flowed and the cap held."""
    from .demo_run import run_demo

    return run_demo(args)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``demo``."""
    parser = sub.add_parser(
        "demo",
        help="the whole system in one terminal: broker, simulated treadmill, gateway, dashboard",
        description="Start the embedded broker, a simulated treadmill and HR strap, the "
        "gateway running a builtin plan, and the dashboard. Ctrl-C (or q) stops everything, "
        "slowing a backward belt first.",
    )
    parser.add_argument("--plan", default="retro-run-intervals", help="builtin plan or TOML file")
    parser.add_argument(
        "--speedup", type=positive_number, default=1.0, help="run the clock N times faster"
    )
    parser.add_argument("--headless", action="store_true", help="no dashboard; print a summary")
    parser.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        help="a treadmill without the optional parts (no-control-point: watch mode)",
    )
    parser.add_argument("--ble", action="store_true", help="through BlueZoo (a BlueZ mock)")
    parser.add_argument(
        "--duration", type=float, help="stop after this many simulated seconds (headless default: "
        "the plan's length plus a minute)"
    )  # fmt: skip
    parser.add_argument("--port", type=int, default=1883, help="embedded broker port (if free)")
    add_voice_options(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.set_defaults(run=run)
