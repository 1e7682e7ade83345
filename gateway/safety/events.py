"""What the governor is told. Speeds are km/h floats at this boundary."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .direction import Direction


@dataclass(frozen=True, slots=True)
class TreadmillRecord:
    """A (joined) Treadmill Data record: the belt speed as the machine reports it."""

    speed_kmh: float


@dataclass(frozen=True, slots=True)
class TargetReported:
    """Status 0x05: the machine's target changed (our command, the console, anyone)."""

    target_kmh: float


class StopKind(StrEnum):
    """How the belt stopped without us."""

    USER = "user"
    SAFETY_KEY = "safety_key"
    STARTED = "started"  # started or resumed by the user (console)


@dataclass(frozen=True, slots=True)
class MachineStopped:
    """Status 0x02/0x03/0x04: the console or the safety key changed the run state."""

    kind: StopKind


@dataclass(frozen=True, slots=True)
class HeartRateSample:
    """A heart-rate measurement; ``contact`` False means the value is not usable."""

    bpm: int
    contact: bool | None = True


@dataclass(frozen=True, slots=True)
class SegmentChange:
    """The workout engine moved to a segment (or free mode flipped direction)."""

    index: int
    direction: Direction
    target_kmh: float
    incline_pct: float | None = None


@dataclass(frozen=True, slots=True)
class EffortTarget:
    """A heart-rate segment's controller asks for a new speed (and incline) in its segment.

    A request like any other: the governor caps it, ramps it and may refuse
    to move at all (halted, stopping, turning around).
    """

    index: int | None  # its segment (None: free mode); a request for another one is dropped
    target_kmh: float
    incline_pct: float | None
    why: str


class CommandKind(StrEnum):
    """Commands any source may ask for."""

    START = "start"
    PAUSE = "pause"
    STOP = "stop"
    SET_SPEED = "set_speed"
    SET_INCLINE = "set_incline"
    SET_DIRECTION = "set_direction"
    SET_CAP = "set_cap"
    CONFIRM = "confirm"  # the runner confirms after an escalation stop
    NEXT_SEGMENT = "next_segment"  # for the workout engine, not the governor
    LOAD_PLAN = "load_plan"  # for the workout engine, not the governor
    SET_HR_TARGET = "set_hr_target"  # free mode's heart-rate control, not the governor


@dataclass(frozen=True, slots=True)
class Command:
    """A request from the plan, MQTT, the dashboard or the CLI.

    ``issued_at`` is on the session clock; a command older than its ttl is
    refused. ``retained`` marks an MQTT retained message (always refused).
    """

    id: str
    kind: CommandKind
    value: float | str | None = None
    issued_at: float | None = None
    ttl_s: float | None = None
    source: str = "unknown"
    retained: bool = False


@dataclass(frozen=True, slots=True)
class RefusedCommand:
    """A command refused before the door (unreadable fields, retained, a reply
    topic outside the namespace) that still carries an id.

    It comes to the governor anyway so the id is remembered with the others:
    the same id arriving later, however well formed, is refused too (one id,
    one answer, SAFETY.md 15). The governor gives the answer.
    """

    id: str
    error: str
    source: str = "unknown"
    stale: bool = False  # refused as retained or replayed, not as malformed


@dataclass(frozen=True, slots=True)
class BeltLastSeen:
    """A restart after a crash: the belt's speed in the last record the session kept.

    Treadmill Data may be a second away after the reconnect; a belt that was
    moving backward seconds ago is slowed as soon as control is granted,
    without waiting for it (SAFETY.md 12).
    """

    speed_kmh: float


@dataclass(frozen=True, slots=True)
class ControlGranted:
    """Request Control succeeded."""


@dataclass(frozen=True, slots=True)
class ControlLost:
    """Status 0xFF, or the link to the treadmill went away."""

    reason: str


class Failure(StrEnum):
    """Why a control-point procedure failed: only some of these mean control is gone."""

    NOT_PERMITTED = "control_not_permitted"  # 0x05: we no longer hold control
    TIMEOUT = "timeout"  # no answer: the machine may not be listening
    LINK = "link"  # the write itself failed
    FAILED = "operation_failed"  # 0x04: not now (start while started, ...)
    UNSUPPORTED = "op_code_not_supported"  # 0x02: the machine cannot do this
    INVALID = "invalid_parameter"  # 0x03: out of the machine's range


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """A control-point procedure answered with a result other than success, or timed out."""

    what: str
    reason: str
    failure: Failure = Failure.NOT_PERMITTED


@dataclass(frozen=True, slots=True)
class MachineFeatures:
    """What the machine says it can do (Feature, and the characteristics it offers)."""

    incline: bool
    control: bool = True  # False: no control point at all (watch mode)


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The gateway is stopping (a signal, the end of --duration, an unexpected error)."""

    reason: str


@dataclass(frozen=True, slots=True)
class SpeedRangeReported:
    """The machine's Supported Speed Range (read after every connect)."""

    min_kmh: float
    max_kmh: float
    step_kmh: float = 0.01


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed (the service ticks a few times a second)."""


Event = (
    TreadmillRecord
    | TargetReported
    | MachineStopped
    | HeartRateSample
    | SegmentChange
    | EffortTarget
    | RefusedCommand
    | BeltLastSeen
    | Command
    | ControlGranted
    | ControlLost
    | CommandFailed
    | SpeedRangeReported
    | MachineFeatures
    | Shutdown
    | Tick
)
