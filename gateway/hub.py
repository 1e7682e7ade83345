"""The hub: "what is happening now" for one station, and who wants to know.

The station runtime writes; MQTT, the recorder and the status line listen.
A listener gets every message in order and must not block (it enqueues).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, TypedDict, Unpack

from .ftms import HeartRate, TreadmillData
from .safety.actions import Alert, CommandResult, Decision
from .safety.direction import Direction
from .safety.governor import Phase
from .workout.engine import Progress
from .workout.plan import Plan

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The station's state, published at most once a second as ``state``."""

    station: str
    speed_kmh: float | None = None
    target_kmh: float | None = None
    cap_kmh: float = 6.0
    capped: bool = False  # the cap applies (backward, or turning)
    cap_limiting: bool = False  # ... and holds something down
    cap_held: bool = False
    direction: Direction = Direction.FORWARD
    phase: Phase = Phase.RUNNING
    running: bool = False
    incline_pct: float | None = None
    distance_m: int | None = None
    elapsed_s: int | None = None
    energy_kcal: float = 0.0
    energy_method: str = "acsm"
    treadmill_energy_kcal: int | None = None
    heart_rate_bpm: int | None = None
    hr_contact: bool | None = None
    hr_max_bpm: float = 180.0
    segment: Progress | None = None
    plan: str | None = None
    workout: Plan | None = None  # the plan itself, for the workout topic's timeline
    treadmill_connected: bool = False
    hrm_connected: bool = False
    hr_source: Literal["strap", "treadmill"] | None = None  # None: HR protections off
    last_sample_at: float | None = None
    next_turn_s: float | None = None  # until the plan turns the runner around
    backward_left_m: float | None = None  # metres left in this backward stretch
    last_alert: str | None = None  # what the runner was last told
    max_kmh: float | None = None  # the treadmill's top speed, once it said its range
    hr_target_bpm: tuple[int, int] | None = None  # a heart-rate segment's range
    hr_in_range: bool | None = None  # ... and whether the runner is in it
    app: str | None = None  # an app connected to the bridge (its name or address)
    control: Literal["held", "lost", "none"] = "lost"  # none: watch mode (no control point)
    app_asked: str | None = None  # what it last asked, and what came of it
    upload: str | None = None  # where the last session went (Strava, intervals.icu)


class SnapshotChanges(TypedDict, total=False):
    """What ``Hub.update`` may change: every field of ``Snapshot`` but its station."""

    speed_kmh: float | None
    target_kmh: float | None
    cap_kmh: float
    capped: bool
    cap_limiting: bool
    cap_held: bool
    direction: Direction
    phase: Phase
    running: bool
    incline_pct: float | None
    distance_m: int | None
    elapsed_s: int | None
    energy_kcal: float
    energy_method: str
    treadmill_energy_kcal: int | None
    heart_rate_bpm: int | None
    hr_contact: bool | None
    hr_max_bpm: float
    segment: Progress | None
    plan: str | None
    workout: Plan | None
    treadmill_connected: bool
    hrm_connected: bool
    hr_source: Literal["strap", "treadmill"] | None
    last_sample_at: float | None
    next_turn_s: float | None
    backward_left_m: float | None
    last_alert: str | None
    max_kmh: float | None
    hr_target_bpm: tuple[int, int] | None
    hr_in_range: bool | None
    app: str | None
    app_asked: str | None
    control: Literal["held", "lost", "none"]
    upload: str | None


@dataclass(frozen=True, slots=True)
class TelemetrySample:
    """One treadmill record, numbered: the stream nothing may lose."""

    seq: int
    at: float
    record: TreadmillData
    # The governor's view when the record arrived: consumers mark charts and
    # check the cap per sample, however late the (1 Hz) state message is.
    direction: Direction = Direction.FORWARD
    capped: bool = False
    cap_kmh: float | None = None
    # The gateway's own energy estimate so far (ENERGY.md) and how it was made:
    # the session record keeps it per record, so exports carry it, not the console's.
    gateway_kcal: float | None = None
    energy_method: str | None = None


@dataclass(frozen=True, slots=True)
class HeartRateMessage:
    """One HR measurement, numbered."""

    seq: int
    at: float
    sample: HeartRate


@dataclass(frozen=True, slots=True)
class DecisionMessage:
    """A governor decision (published on safety/events, recorded)."""

    at: float
    decision: Decision


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """An alert for the runner."""

    at: float
    alert: Alert


@dataclass(frozen=True, slots=True)
class ResultMessage:
    """The answer to a command."""

    at: float
    result: CommandResult


@dataclass(frozen=True, slots=True)
class MachineMessage:
    """What the treadmill said about itself at connect, as it said it (the bridge offers
    exactly this to apps, no more)."""

    at: float
    address: str
    feature: bytes
    speed_range: bytes
    incline_range: bytes | None


@dataclass(frozen=True, slots=True)
class StateMessage:
    """The snapshot changed."""

    snapshot: Snapshot


HubMessage = (
    TelemetrySample
    | HeartRateMessage
    | DecisionMessage
    | AlertMessage
    | ResultMessage
    | StateMessage
    | MachineMessage
)
Listener = Callable[[HubMessage], None]


@dataclass
class Hub:
    """Latest snapshot, recent alerts, and the listeners."""

    snapshot: Snapshot
    alerts: deque[AlertMessage] = field(default_factory=lambda: deque(maxlen=50))
    _listeners: list[Listener] = field(default_factory=list)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Receive every message from now on; returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, message: HubMessage) -> None:
        """Hand a message to every listener (a failing listener is logged, not fatal)."""
        if isinstance(message, AlertMessage):
            self.alerts.append(message)
        for listener in list(self._listeners):
            try:
                listener(message)
            except Exception:
                log.exception("hub listener %r failed", listener)

    def update(self, **changes: Unpack[SnapshotChanges]) -> Snapshot:
        """Change the snapshot and tell the listeners, if anything actually changed.

        The runtime calls this after every event (ticks included); publishing
        only real changes keeps listeners from a flood of identical states.
        """
        snap = self.snapshot
        if all(
            (now := getattr(snap, name)) is value or now == value for name, value in changes.items()
        ):
            return self.snapshot
        self.snapshot = replace(self.snapshot, **changes)
        self.publish(StateMessage(self.snapshot))
        return self.snapshot
