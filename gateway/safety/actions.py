"""What the governor asks the service to do, and what it records."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .events import Command


@dataclass(frozen=True, slots=True)
class SetTargetSpeed:
    """Write Set Target Speed; the one action that moves the belt faster."""

    kmh: float


@dataclass(frozen=True, slots=True)
class SetIncline:
    """Write Set Target Inclination."""

    pct: float


@dataclass(frozen=True, slots=True)
class Start:
    """Write Start or Resume."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Write Stop or Pause (pause): the machine's own controlled deceleration."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Write Stop or Pause (stop)."""


@dataclass(frozen=True, slots=True)
class RequestControl:
    """Write Request Control (after losing it, with backoff)."""


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Drop the treadmill link and connect again (it went silent while connected)."""


class Level(StrEnum):
    """How loud an alert is."""

    INFO = "info"
    WARNING = "warning"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Alert:
    """Tell the runner, on every channel (dashboard, MQTT, status line)."""

    level: Level
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    """One entry of the decision log: why the governor did what it did."""

    rule: str
    input: str
    action: str


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The answer to a :class:`Command`: every command gets exactly one."""

    id: str
    ok: bool
    applied: str | None = None
    error: str | None = None
    source: str = "unknown"  # "plan" results are the gateway's own, not published as answers


@dataclass(frozen=True, slots=True)
class ToEngine:
    """An admitted workout command (next_segment, load_plan): the engine carries it out."""

    command: Command


Action = (
    SetTargetSpeed
    | SetIncline
    | Start
    | Pause
    | Stop
    | RequestControl
    | Reconnect
    | Alert
    | Decision
    | CommandResult
    | ToEngine
)
