"""Every command imports its own dependencies when it runs, not at start-up.

``retrogate --help`` and ``retrogate decode`` build the whole parser (every
command, plugins included); if that pulls in pydantic, bleak, aiomqtt or
textual, every invocation pays for it (about a second and 100 MiB before
this test; measured figures are in docs/architecture.md, not asserted here).
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "pydantic",
    "bleak",
    "aiomqtt",
    "paho",
    "amqtt",
    "textual",
    "textual_serve",
    "aiohttp",
    "garmin_fit_sdk",
    "dbus_fast",
    "matplotlib",
    "plotext",
)

PROBE = f"""
import sys
from gateway.cli import build_parser, main
build_parser()
status = main(["decode", "speed-range", "f4 01 b8 0b 32 00"])
heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))
print(status, ",".join(heavy))
"""


def test_building_every_command_and_decoding_loads_no_heavy_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    status, _, heavy = done.stdout.strip().splitlines()[-1].partition(" ")
    assert status == "0"
    assert heavy == ""
