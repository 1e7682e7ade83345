"""Which way the runner faces: the fact every safety rule turns on.

It lives with the governor (the lowest floor that needs it); the workout
engine, the energy model and the simulator import it from here.
"""

from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    """Which way the runner faces on the belt."""

    FORWARD = "forward"
    BACKWARD = "backward"
