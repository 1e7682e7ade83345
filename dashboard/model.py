"""What the dashboard knows, built only from MQTT messages (pure, no I/O).

The app feeds every message it receives to :meth:`Fleet.feed` and redraws
from the model at a steady rate; tests feed it fixed messages.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

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
    state: dict[str, Any] = field(default_factory=dict)
    workout: dict[str, Any] = field(default_factory=dict)
    treadmill_online: bool = False
    hrm_online: bool = False
    last_sample: float | None = None  # wall clock of the last telemetry/HR message
    speed: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    heart_rate: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    backward: deque[bool] = field(default_factory=lambda: deque(maxlen=HISTORY))
    alerts: deque[Alert] = field(default_factory=lambda: deque(maxlen=ALERTS))
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_seq: int = 0

    def value(self, name: str) -> Any:
        """A field of the latest state (None before the first one)."""
        return self.state.get(name)

    @property
    def direction(self) -> str:
        """``forward`` or ``backward``."""
        return str(self.state.get("direction", "forward"))


@dataclass
class Fleet:
    """Every station seen under the prefix, and the gateways' status."""

    prefix: str = "retrogate"
    stations: dict[str, StationView] = field(default_factory=dict)
    gateways: dict[str, str] = field(default_factory=dict)
    malformed: int = 0

    def station(self, station_id: str) -> StationView:
        """The view of a station, created on first sight."""
        if station_id not in self.stations:
            self.stations[station_id] = StationView(station_id)
        return self.stations[station_id]

    def feed(self, topic: str, payload: bytes, now: float) -> str | None:
        """Apply one message; returns the station it concerned (if any)."""
        parts = topic.split("/")
        base = self.prefix.split("/")
        if parts[: len(base)] != base or len(parts) < len(base) + 2:
            return None
        rest = parts[len(base) :]
        if rest[0] == "gateways":
            if len(rest) == 3 and rest[2] == "status":
                self.gateways[rest[1]] = payload.decode(errors="replace")
            return None
        station, kind = rest[0], "/".join(rest[1:])
        if kind == "cmd":
            return None
        view = self.station(station)
        try:
            self._apply(view, kind, payload, now)
        except (ValueError, KeyError, TypeError):
            self.malformed += 1
        return station

    def _apply(self, view: StationView, kind: str, payload: bytes, now: float) -> None:
        if kind.endswith("availability"):
            online = payload == b"online"
            if kind.startswith("treadmill"):
                view.treadmill_online = online
            else:
                view.hrm_online = online
            return
        if not payload:
            return
        data = json.loads(payload)
        if kind == "state":
            view.state = data
        elif kind == "workout":
            view.workout = data
        elif kind == "telemetry":
            view.last_sample = now
            if data["seq"] <= view.last_seq:
                return  # a replayed duplicate: consumers dedupe by seq
            view.last_seq = data["seq"]
            view.speed.append(float(data.get("speed_kmh") or 0.0))
            view.backward.append(data.get("direction", view.direction) == "backward")
        elif kind == "heart_rate":
            view.last_sample = now
            view.heart_rate.append(float(data["heart_rate_bpm"]))
        elif kind == "alerts":
            view.alerts.append(Alert(data["ts"], data["level"], data["message"]))
        elif kind == "safety/events":
            view.alerts.append(
                Alert(data["ts"], "rule", f"{data['rule']}: {data['input']} -> {data['action']}")
            )
        elif kind == "cmd/result" and data.get("id") is not None:
            view.results[str(data["id"])] = data
            while len(view.results) > ALERTS:
                view.results.pop(next(iter(view.results)))


def hr_zone(bpm: float | None, hr_max: float) -> int:
    """Zone 1–5 by % of HRmax (50/60/70/80/90 %); 0 when unknown or below."""
    if not bpm or hr_max <= 0:
        return 0
    pct = bpm / hr_max * 100
    return max(0, min(5, int((pct - 40) // 10)))


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
