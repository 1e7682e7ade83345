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
class Facts:
    """What an alert is about, as numbers: whoever words it (the voice, another language,
    a watch) reads these, never the message's text."""

    seconds: int | None = None  # the countdown
    direction: str | None = None  # "forward" or "backward": the way of the turn
    speed_kmh: float | None = None  # the belt's, or the target refused
    limit_kmh: float | None = None  # what the belt is brought to


@dataclass(frozen=True, slots=True)
class Alert:
    """Tell the runner, on every channel (dashboard, MQTT, status line)."""

    level: Level
    code: str
    message: str
    facts: Facts = Facts()


class Rule(StrEnum):
    """The governor's rules (SAFETY.md; one row each in tests/unit/test_governor_rules.py).

    The value is what ``safety/events`` and the session record carry.
    """

    CAP = "cap"  # a target during a backward segment: at most the cap
    SEGMENT = "segment"  # the workout's segment speed
    COMMAND = "command"  # an outside command carried out (or handed to the engine)
    RAMP = "ramp"  # towards the target, at most accel x 1 s per step
    CORRECT_OVERSPEED = "correct_overspeed"  # belt above cap + tolerance
    CORRECT_TARGET = "correct_target"  # the console set a target above the cap
    ESCALATE = "escalate"  # still over after the window: pause and halt
    TURNAROUND = "turnaround"  # slow, dwell, then ramp into the new direction
    HR_CEILING = "hr_ceiling"  # step down while HR is above the ceiling
    HR_PAUSE = "hr_pause"  # HR far above: pause and halt
    HR_LOST = "hr_lost"  # no HR backward: backward walking speed
    CONTROL_LOST = "control_lost"  # 0xFF, refused command, timeout: ask again with backoff
    CONTROL_GRANTED = "control_granted"  # control (re)granted: the cap is re-asserted
    COMMAND_REFUSED = "command_refused"  # the machine refused one op; control is kept
    RESTART = "restart"  # found moving at start: turnaround first
    DATA_LOST = "data_lost"  # no Treadmill Data while running: pause, reconnect
    WIND_DOWN = "wind_down"  # the gateway stops: turnaround speed, then pause
    STALE_COMMAND = "stale_command"  # expired, retained, replayed
    RATE_LIMITED = "rate_limited"  # too many commands from outside
    BAD_COMMAND = "bad_command"  # malformed or out of range


# Decisions that are the workout going as planned, not interventions: the alerts
# panel and `sessions show` leave them out (MQTT and the record keep them).
ROUTINE: frozenset[Rule] = frozenset({Rule.RAMP, Rule.SEGMENT, Rule.COMMAND})


@dataclass(frozen=True, slots=True)
class Decision:
    """One entry of the decision log: why the governor did what it did."""

    rule: Rule
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
