"""The one-line live status ``retrogate run`` prints."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

from .clock import Clock
from .hub import Hub, Snapshot


def format_status(s: Snapshot) -> str:
    """E.g. ``tm1 BACKWARD 5.80 km/h cap 6.0 CAPPED | 312 m 4:10 | HR 142 | seg 3/13 ...``."""
    if not s.treadmill_connected:
        return f"{s.station} waiting for the treadmill..."
    speed = f"{s.speed_kmh:.2f} km/h" if s.speed_kmh is not None else "-- km/h"
    cap = f" cap {s.cap_kmh:.1f} {'CAPPED' if s.capped else ''}".rstrip() if s.capped else ""
    if s.capped and not s.cap_held:
        cap += " (NO CONTROL)"
    parts = [f"{s.station} {s.direction.upper():8} {speed}{cap}"]
    if s.phase != "running":
        parts[0] += f" [{s.phase}]"
    elapsed = f"{s.elapsed_s // 60}:{s.elapsed_s % 60:02d}" if s.elapsed_s is not None else "-:--"
    parts.append(f"{s.distance_m or 0} m {elapsed}")
    if s.heart_rate_bpm is not None:
        parts.append(f"HR {s.heart_rate_bpm}" if s.hr_contact is not False else "HR --")
    if s.segment is not None:
        seg = s.segment
        left = (
            f"{seg.left_m:.0f} m left"
            if seg.left_m is not None
            else f"{seg.left_s or 0:.0f} s left"
        )
        parts.append("plan done" if seg.finished else f"seg {seg.index + 1}/{seg.count} {left}")
    parts.append(f"{s.energy_kcal:.0f} kcal")
    if s.app is not None:
        parts.append(f"app {s.app}" + (f" ({s.app_asked})" if s.app_asked else ""))
    return " | ".join(parts)


async def print_status(
    hubs: Sequence[Hub], clock: Clock, out: TextIO = sys.stdout, every_s: float = 1.0
) -> None:
    """Print the status of every station once a second (in place on a terminal)."""
    tty = out.isatty()
    while True:
        lines = [format_status(h.snapshot) for h in hubs]
        text = "   ".join(lines)
        if tty:
            out.write("\r\x1b[2K" + text[:200])
        else:
            out.write(text + "\n")
        out.flush()
        await asyncio.sleep(every_s)
