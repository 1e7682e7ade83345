"""A heart-rate segment in a workout session: when to ask the controller, what to send.

The controller (``hrcontrol.py``) decides an effort; this part reads the
governor's view for what may be asked right now (its ceiling: the cap
backward, the heart-rate step-down, the turnaround, the machine's range),
asks every ``interval_s``, and turns a real change into an
:class:`EffortTarget` event for the governor. Small changes are not written:
a belt re-targeted every two seconds for 0.1 km/h of noise is no use to
anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..safety.direction import Direction
from ..safety.events import EffortTarget
from ..safety.governor import Phase, View
from .hrcontrol import Bounds, Effort, HrController, HrRange
from .plan import Segment

MIN_SPEED_KMH = 1.0  # slower is standing about, not exercise
SPEED_STEP_KMH = 0.2  # a smaller change is not written
INCLINE_STEP_PCT = 1.0
OUT_OF_REACH_S = 120.0  # at full effort and still below the range this long: say so, once


@dataclass
class HrTarget:
    """The current segment's heart-rate control, if it has one."""

    age: float
    interval_s: float = 2.0
    max_incline_pct: float = 0.0  # the machine's (0: no incline control)
    controller: HrController | None = None
    index: int | None = None
    free_mode: bool = False  # set by set_hr_target, not by a plan segment
    _asked_at: float | None = None
    _sent: Effort | None = None
    _short_since: float | None = None  # at the most it may ask for, heart rate still below
    out_of_reach: str | None = None  # said once per segment, then kept (the runner was told)

    @property
    def target(self) -> HrRange | None:
        """The range being held, if any."""
        return self.controller.target if self.controller is not None else None

    def segment(self, index: int, seg: Segment | None) -> None:
        """A new segment: a controller for it when it holds a heart rate, else none."""
        target = seg.hr_target(self.age) if seg is not None else None
        start = Effort(seg.speed_kmh, seg.incline_pct or 0.0) if seg is not None else None
        self._hold(index, target, start, free_mode=False)

    def free(self, index: int | None, target: HrRange, start: Effort) -> None:
        """Free mode, by command: hold ``target`` from ``start``."""
        self._hold(index, target, start, free_mode=True)

    def off(self) -> None:
        """Free mode's target dropped (``set_hr_target off``, a speed set by hand)."""
        self._hold(self.index, None, None, free_mode=False)

    def _hold(
        self, index: int | None, target: HrRange | None, start: Effort | None, *, free_mode: bool
    ) -> None:
        self.index, self.free_mode = index, free_mode
        self._asked_at = self._sent = self._short_since = self.out_of_reach = None
        self.controller = (
            HrController(target, start) if target is not None and start is not None else None
        )

    def tick(self, v: View, now: float) -> EffortTarget | None:
        """The request to send now, if any."""
        c = self.controller
        if c is None or v.segment != self.index or not v.running or v.phase is not Phase.RUNNING:
            return None
        if self._asked_at is not None and now - self._asked_at < self.interval_s:
            return None
        self._asked_at = now
        bounds = Bounds(
            min_kmh=max(MIN_SPEED_KMH, v.min_kmh),
            max_kmh=max(MIN_SPEED_KMH, v.ceiling_kmh),
            max_incline_pct=self.max_incline_pct if v.incline_supported else 0.0,
            backward=v.direction is Direction.BACKWARD,
        )
        bpm = v.hr_bpm
        held = None
        if v.hr_step_down:  # the ceiling's step-down: what it wrote is the output
            pct = (v.incline_pct or 0.0) if bounds.max_incline_pct else 0.0
            held = Effort(v.commanded_kmh or 0.0, pct)
        effort = c.update(now, bpm, bounds, held)
        self._check_reach(c.target, effort, bpm, bounds, now)
        want = Effort(round(effort.speed_kmh, 1), round(effort.incline_pct * 2) / 2)
        sent = self._sent
        if sent is not None and (
            abs(want.speed_kmh - sent.speed_kmh) < SPEED_STEP_KMH
            and abs(want.incline_pct - sent.incline_pct) < INCLINE_STEP_PCT
        ):
            return None
        self._sent = want
        heart = f"HR {bpm} bpm" if bpm is not None else "HR lost"
        why = f"hr target {c.target}: {heart}"
        incline = want.incline_pct if bounds.max_incline_pct > 0 else None
        return EffortTarget(self.index, want.speed_kmh, incline, why)

    def _check_reach(
        self, target: HrRange, effort: Effort, bpm: int | None, b: Bounds, now: float
    ) -> None:
        """Full effort (the ceiling, the top incline) and the heart still below the range."""
        full = (
            effort.speed_kmh >= b.max_kmh - 0.05 and effort.incline_pct >= b.max_incline_pct - 0.05
        )
        if not full or bpm is None or bpm >= target.low_bpm:
            self._short_since = None
            return
        if self._short_since is None:
            self._short_since = now
        if self.out_of_reach is None and now - self._short_since >= OUT_OF_REACH_S:
            self.out_of_reach = (
                f"Heart-rate target {target} out of reach at {b.max_kmh:g} km/h"
                + (f" and {b.max_incline_pct:g} % incline" if b.max_incline_pct else "")
                + ": holding there."
            )


def parse_target(value: float | str | None, age: float) -> HrRange | None:
    """``set_hr_target``'s value: "120-130", "zone 3" or "off" (None); ValueError says why."""
    text = str(value if value is not None else "").strip().lower()
    if text in ("off", "none", ""):
        return None
    if text.startswith("zone"):
        zone = text.removeprefix("zone").strip()
        if zone not in ("1", "2", "3", "4", "5"):
            raise ValueError(f"zone must be 1 to 5, not {zone!r}")
        return HrRange.of_zone(int(zone), age)
    low, sep, high = text.partition("-")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise ValueError("value must be 'LOW-HIGH' bpm (e.g. '120-130'), 'zone N' or 'off'")
    range_ = HrRange(int(low), int(high))
    if not 60 <= range_.low_bpm < range_.high_bpm <= 220 or range_.high_bpm - range_.low_bpm < 6:
        raise ValueError("range must be within 60-220 bpm, at least 6 bpm wide")
    return range_
