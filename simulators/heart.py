"""A runner's heart as a chest strap reports it, with time handed in.

The steady-state rate rises with metabolic cost (ACSM VO2), saturating
towards HRmax, plus a fixed extra when moving backward; the actual rate follows it with a lag
(faster up than down, as hearts do). Calibrated against Williford 1998:
forward 4.8 km/h gives about 113 bpm, backward about 20 bpm more.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from gateway.ftms import HeartRate
from gateway.safety.direction import Direction
from gateway.workout.energy import vo2

RR_UNIT = 1024


@dataclass(frozen=True)
class HeartSpec:
    """The simulated runner's heart."""

    rest_bpm: float = 60.0
    max_bpm: float = 190.0
    vo2_scale: float = 22.0  # ml/kg/min for 63 % of the reserve
    rise_tau_s: float = 25.0
    fall_tau_s: float = 50.0
    noise_bpm: float = 1.0
    # Backward movement costs more than VO2 alone shows in the heart rate:
    # Williford 1998 measured +19 bpm walking (4.8 km/h) and +22 bpm running
    # (8 km/h) at the same speed, where the saturating curve gives only ~+10.
    backward_extra_bpm: float = 20.0
    battery_drain_pct_per_h: float = 5.0


@dataclass
class HeartModel:
    """State of one strap on one runner."""

    spec: HeartSpec = field(default_factory=HeartSpec)
    now: float = 0.0
    bpm: float = 60.0
    contact: bool = True
    extra_bpm: float = 0.0  # a tired runner (the hr_surge fault)
    battery_pct: float = 100.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    _beat_phase: float = 0.0
    _pending_rr: list[int] = field(default_factory=list)

    def steady_state(self, speed_kmh: float, incline_pct: float, direction: Direction) -> float:
        """The rate this effort settles at."""
        spec = self.spec
        if speed_kmh <= 0:
            return spec.rest_bpm
        effort = vo2(speed_kmh, incline_pct, Direction.FORWARD)
        reserve = 1 - math.exp(-effort / spec.vo2_scale)
        bpm = spec.rest_bpm + (spec.max_bpm - spec.rest_bpm) * reserve
        if direction is Direction.BACKWARD:
            # Full extra from a slow walk on; ramps in from standing still.
            bpm += spec.backward_extra_bpm * min(1.0, speed_kmh / 2.0)
        return min(spec.max_bpm, bpm)

    def advance(
        self, now: float, speed_kmh: float, incline_pct: float, direction: Direction
    ) -> None:
        """Follow the effort up to ``now`` and collect the beats that happened."""
        dt = now - self.now
        if dt <= 0:
            return
        self.now = now
        goal = min(
            self.spec.max_bpm, self.steady_state(speed_kmh, incline_pct, direction) + self.extra_bpm
        )
        tau = self.spec.rise_tau_s if goal > self.bpm else self.spec.fall_tau_s
        self.bpm += (goal - self.bpm) * (1 - math.exp(-dt / tau))
        self.battery_pct = max(
            0.0, self.battery_pct - self.spec.battery_drain_pct_per_h * dt / 3600
        )
        # Beats: each beat's RR interval is the current period, in 1/1024 s.
        self._beat_phase += dt * self.bpm / 60
        while self._beat_phase >= 1:
            self._beat_phase -= 1
            jitter = self.rng.gauss(0, 0.01)
            self._pending_rr.append(round(RR_UNIT * 60 / self.bpm * (1 + jitter)))
        del self._pending_rr[:-8]  # a strap keeps only the last few

    def measurement(self) -> HeartRate:
        """The Heart Rate Measurement the strap would notify now."""
        if not self.contact:
            self._pending_rr.clear()
            return HeartRate(0, contact=False)
        rr, self._pending_rr = self._pending_rr, []
        bpm = round(self.bpm + self.rng.gauss(0, self.spec.noise_bpm))
        return HeartRate(
            max(30, min(250, bpm)),
            contact=True,
            rr_intervals_s=tuple(raw / RR_UNIT for raw in rr),
        )
