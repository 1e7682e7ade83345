"""What the dashboard knows, built only from MQTT messages (pure, no I/O).

The app feeds every message it receives to :meth:`Fleet.feed` and redraws
from the model at a steady rate. Topics are routed and payloads read with
the gateway's own contract (``gateway.contract``), so the dashboard holds
the same models the gateway publishes, and a change to the contract fails
the dashboard's tests too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.contract.payloads import (
    AlertPayload,
    CommandResultPayload,
    HeartRatePayload,
    PlanSegmentPayload,
    SafetyEventPayload,
    SegmentPayload,
    StatePayload,
    TelemetryPayload,
    WorkoutPayload,
    read,
)
from gateway.contract.topics import GatewayTopic, StationTopic, route
from gateway.safety.actions import ROUTINE

HISTORY = 3600  # samples kept per chart (bounded memory: 15 min at 4 Hz)
ALERTS = 100


@dataclass
class Alert:
    """One line of the alerts panel."""

    ts: float
    level: str
    text: str


@dataclass
class StationView:
    """One treadmill as the dashboard sees it."""

    id: str
    state: StatePayload | None = None
    workout: WorkoutPayload | None = None
    treadmill_online: bool = False
    hrm_online: bool = False
    last_sample: float | None = None  # wall clock of the last telemetry/HR message
    speed: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    heart_rate: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    backward: deque[bool] = field(default_factory=lambda: deque(maxlen=HISTORY))
    alerts: deque[Alert] = field(default_factory=lambda: deque(maxlen=ALERTS))
    results: dict[str, CommandResultPayload] = field(default_factory=dict)
    last_seq: int = 0
    last_telemetry: TelemetryPayload | None = None
    countdown: str | None = None  # the latest "Turn around in N s", for the banner
    gateway: str | None = None  # which gateway serves it (its owner record)

    def value(self, name: str) -> Any:
        """A field of the latest state (None before the first one)."""
        return getattr(self.state, name, None)

    @property
    def direction(self) -> str:
        """``forward`` or ``backward``."""
        return self.state.direction if self.state is not None else "forward"

    @property
    def segment(self) -> SegmentPayload | None:
        """Where the workout is, if a plan runs."""
        return self.state.segment if self.state is not None else None

    @property
    def segments(self) -> list[PlanSegmentPayload]:
        """The active plan's segments (empty in free mode)."""
        return list(self.workout.segments) if self.workout is not None else []


@dataclass
class Fleet:
    """Every station seen under the prefix, and the gateways' status."""

    prefix: str = "retrogate"
    stations: dict[str, StationView] = field(default_factory=dict)
    gateways: dict[str, str] = field(default_factory=dict)
    bridges: dict[str, str] = field(default_factory=dict)  # on a central broker: "1" / "0"
    malformed: int = 0
    # Sees each message read (station, model): the dashboard's voice listens here.
    observer: Callable[[str, object], None] | None = None

    def gateway_up(self, gateway: str) -> bool:
        """Online, and (seen through a central broker) its bridge connected."""
        return self.gateways.get(gateway) != "offline" and self.bridges.get(gateway) != "0"

    def by_gateway(self) -> list[tuple[str | None, list[str]]]:
        """The stations grouped by the gateway that serves them (a site's overview)."""
        groups: dict[str | None, list[str]] = {}
        for sid in sorted(self.stations):
            groups.setdefault(self.stations[sid].gateway, []).append(sid)
        return sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))

    def station(self, station_id: str) -> StationView:
        """The view of a station, created on first sight."""
        if station_id not in self.stations:
            self.stations[station_id] = StationView(station_id)
        return self.stations[station_id]

    def feed(self, topic: str, payload: bytes, now: float) -> str | None:
        """Apply one message; returns the station it concerned (if any)."""
        where = route(self.prefix, topic)
        if isinstance(where, GatewayTopic):
            if where.kind == "status":
                self.gateways[where.gateway] = payload.decode(errors="replace")
            elif where.kind == "bridge":
                self.bridges[where.gateway] = payload.decode(errors="replace")
            return None
        if isinstance(where, StationTopic) and where.kind == "owner":
            owner = payload.decode(errors="replace")
            self.station(where.station).gateway = owner or None
            return where.station
        if not isinstance(where, StationTopic) or where.kind in ("cmd", "session"):
            return None
        view = self.station(where.station)
        try:
            self._apply(view, where, payload, now)
        except ValueError:  # pydantic's ValidationError included: the contract was broken
            self.malformed += 1
        return where.station

    def _apply(self, view: StationView, where: StationTopic, payload: bytes, now: float) -> None:
        kind = where.kind
        if kind == "treadmill/availability":
            view.treadmill_online = payload == b"online"
            return
        if kind == "hrm/availability":
            view.hrm_online = payload == b"online"
            return
        if not payload:
            return  # a cleared retained message
        message = read(kind, payload)
        if self.observer is not None:
            self.observer(view.id, message)
        if isinstance(message, StatePayload):
            view.state = message
        elif isinstance(message, WorkoutPayload):
            view.workout = message
        elif isinstance(message, TelemetryPayload):
            view.last_sample = now
            if message.seq <= view.last_seq:
                return  # a replayed duplicate: consumers dedupe by seq
            view.last_seq = message.seq
            view.last_telemetry = message
            speed = getattr(message, "speed_kmh", None)
            view.speed.append(float(speed) if isinstance(speed, int | float) else 0.0)
            view.backward.append(message.direction == "backward")
        elif isinstance(message, HeartRatePayload):
            view.last_sample = now
            view.heart_rate.append(float(message.heart_rate_bpm))
        elif isinstance(message, AlertPayload):
            if message.code == "countdown":
                view.countdown = message.message  # the banner's, not a line each second
                return
            if message.code == "turned":
                view.countdown = None
            view.alerts.append(Alert(message.ts, message.level, message.message))
        elif isinstance(message, SafetyEventPayload):
            if message.rule in ROUTINE:
                return
            text = f"{message.rule}: {message.input} -> {message.action}"
            view.alerts.append(Alert(message.ts, "rule", text))
        elif isinstance(message, CommandResultPayload) and message.id is not None:
            view.results[message.id] = message
            while len(view.results) > ALERTS:
                view.results.pop(next(iter(view.results)))


def pace(speed_kmh: float | None) -> str:
    """min:ss per km, or a dash when standing."""
    if not speed_kmh or speed_kmh <= 0.3:
        return "–:––"
    seconds = round(3600 / speed_kmh)
    return f"{seconds // 60}:{seconds % 60:02d}"


def clock(seconds: float | None) -> str:
    """h:mm:ss or m:ss."""
    if seconds is None:
        return "–"
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
