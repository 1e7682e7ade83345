"""Heart-rate target segments: move the effort until the heart is in range (pure, no clock).

A segment may ask for a heart-rate range instead of holding a speed. The
controller is a PI controller on one number, the *effort* in km/h-equivalent
(what the belt speed alone would have to be), which it then splits into belt
speed and incline:

* forward: speed first, the incline once the speed is at its limit;
* backward: the incline first (backward walking uphill is a common
  rehabilitation exercise, and a faster belt is what throws a backward
  runner), then speed, never above the limit it is handed.

1 % of incline counts as ``0.18 x speed`` km/h of effort: ACSM's walking
equation gives 1.8·v·grade of VO2 for the grade against 0.1·v for the speed.

Gains come from the IMC rule for a first-order lag (the heart follows effort
with a time constant of 25-50 s, about 12 bpm per km/h near walking speeds):
``kp = τ / (K·λ)``, ``ki = kp / τ``, with a closed-loop time constant λ of
60 s, and the effort slews at most 0.1 km/h a second, so a runner at rest is
not sent to a sprint by the first, large error.

Anti-windup by back-calculation: when the output saturates (the cap, the
governor's heart-rate step-down, the treadmill's range, the slew limit), the
integral is set so the controller asks for exactly what it can have. It
never pushes against the governor, and it responds at once when the error
turns.

The controller's output is what the governor *wrote*, not what it asked
for (SAFETY.md 17): the station hands it the written speed and incline on
every update, and a step-down of the heart-rate ceiling is a saturation
like any other. While the step-down holds, the effort may not rise at all
(no more incline to make up for the speed taken away), and backward the
speed the governor left becomes the base the incline is added to, so the
belt is not sped back up the moment the governor lets go: it climbs again
only at the slew rate, once the incline has run out.

The governor has the last word: every output is a request it may cap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..safety.limits import hr_max

INCLINE_EFFORT = 0.18  # km/h of effort per % of incline, per km/h of speed (ACSM walking)
ZONES = {1: (50, 60), 2: (60, 70), 3: (70, 80), 4: (80, 90), 5: (90, 100)}  # % of HRmax


@dataclass(frozen=True, slots=True)
class HrRange:
    """The heart-rate range a segment asks for."""

    low_bpm: int
    high_bpm: int

    @property
    def mid(self) -> float:
        """Where the controller aims."""
        return (self.low_bpm + self.high_bpm) / 2

    def holds(self, bpm: float | None) -> bool:
        """Is this heart rate in range."""
        return bpm is not None and self.low_bpm <= bpm <= self.high_bpm

    def __str__(self) -> str:
        return f"{self.low_bpm}-{self.high_bpm} bpm"

    @classmethod
    def of_zone(cls, zone: int, age: float) -> HrRange:
        """Zone 1-5 as % of HRmax (Tanaka), like the dashboard's zone colours."""
        low, high = ZONES[zone]
        top = hr_max(age)
        return cls(round(top * low / 100), round(top * high / 100))


@dataclass(frozen=True, slots=True)
class Effort:
    """What the controller asks the governor for."""

    speed_kmh: float
    incline_pct: float = 0.0

    @property
    def total(self) -> float:
        """In km/h of effort."""
        return self.speed_kmh + INCLINE_EFFORT * self.speed_kmh * self.incline_pct


@dataclass(frozen=True, slots=True)
class Bounds:
    """What the controller may ask for right now."""

    min_kmh: float
    max_kmh: float  # the governor's ceiling: the cap backward, the HR step-down, the machine
    max_incline_pct: float = 0.0  # 0: no incline control
    backward: bool = False


def split(effort: float, anchor_kmh: float, b: Bounds) -> Effort:
    """Effort as speed and incline, within the bounds (``anchor_kmh``: backward's base speed)."""
    top = max(b.min_kmh, b.max_kmh)
    if b.backward and b.max_incline_pct > 0:
        base = min(max(anchor_kmh, b.min_kmh), top)
        if effort <= base:
            return Effort(max(b.min_kmh, effort), 0.0)
        incline = min(b.max_incline_pct, (effort - base) / (INCLINE_EFFORT * base))
        # the incline at its top: the rest is speed, at that incline (so ``total`` is ``effort``)
        speed = max(base, effort / (1 + INCLINE_EFFORT * incline))
        return Effort(min(top, speed), incline)
    speed = min(max(effort, b.min_kmh), top)
    if effort <= speed or b.max_incline_pct <= 0:
        return Effort(speed, 0.0)
    incline = min(b.max_incline_pct, (effort - speed) / (INCLINE_EFFORT * speed))
    return Effort(speed, incline)


@dataclass
class HrController:
    """One segment's PI controller."""

    target: HrRange
    start: Effort  # where the segment starts, the anchor of the backward split, the fallback
    tau_s: float = 35.0
    gain_bpm_per_kmh: float = 12.0
    lambda_s: float = 60.0
    slew_kmh_s: float = 0.1  # effort changes at most this fast (6 km/h a minute)
    _integral: float = 0.0
    _last_at: float | None = None
    _anchor: float | None = None  # backward's base speed: the start's, or what a step-down left
    output: Effort | None = None

    @property
    def kp(self) -> float:
        """km/h of effort per bpm of error."""
        return self.tau_s / (self.gain_bpm_per_kmh * self.lambda_s)

    @property
    def ki(self) -> float:
        """km/h of effort per bpm·s of error."""
        return self.kp / self.tau_s

    def update(
        self, now: float, bpm: float | None, b: Bounds, held: Effort | None = None
    ) -> Effort:
        """The effort for this moment (``bpm`` None: heart rate lost).

        ``held``: the governor is stepping the speed down for the heart-rate
        ceiling, and this is the speed and incline it last wrote. That is this
        controller's output now, and nothing may rise until the governor lets go.
        """
        dt = 0.0 if self._last_at is None else max(0.0, now - self._last_at)
        self._last_at = now
        if held is not None and held.speed_kmh > 0:
            self.output = held
            self._anchor = min(self.anchor, held.speed_kmh)
            b = replace(
                b,
                max_kmh=min(b.max_kmh, held.speed_kmh),
                max_incline_pct=min(b.max_incline_pct, held.incline_pct),
            )
        if bpm is None:
            top = max(b.min_kmh, b.max_kmh)  # the segment's own speed, flat, within the bounds
            out = Effort(min(max(self.start.speed_kmh, b.min_kmh), top), 0.0)
            self._integral = out.total - self.start.total  # bumpless when the heart is back
            self.output = out
            return out
        error = self.target.mid - bpm
        self._integral += self.ki * error * dt
        pi = self.start.total + self.kp * error + self._integral
        wanted = pi
        if self.output is not None:
            was = self.output.total
            wanted = min(max(wanted, was - self.slew_kmh_s * dt), was + self.slew_kmh_s * dt)
            if held is not None:
                wanted = min(wanted, was)
        out = split(wanted, self.anchor, b)
        if abs(out.total - pi) > 1e-9:  # saturated: ask for exactly what can be had
            self._integral = out.total - self.start.total - self.kp * error
        self.output = out
        return out

    @property
    def anchor(self) -> float:
        """Backward's base speed (the incline goes on top of it)."""
        return self.start.speed_kmh if self._anchor is None else self._anchor
