"""The workout engine: which segment is on, and when the next one starts.

Time and distance are handed in with each treadmill record. A segment's
time counts only while the belt moves, so a pause does not eat the interval.
Pure: it returns SegmentChange events for the governor; it never commands.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..safety.direction import Direction
from ..safety.events import SegmentChange
from .plan import Plan, Segment


@dataclass(frozen=True, slots=True)
class Progress:
    """Where the workout is (for the state topic, the dashboard and the status line)."""

    index: int
    count: int
    direction: Direction
    note: str
    left_s: float | None
    left_m: float | None
    finished: bool


class WorkoutEngine:
    """Walks through a plan's segments."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.index = -1
        self.finished = False
        self._seg_time = 0.0
        self._seg_start_m = 0.0
        self._last_now: float | None = None
        self._distance_m = 0.0

    @property
    def segment(self) -> Segment | None:
        """The current segment, or None before start and after the end."""
        if 0 <= self.index < len(self.plan.segments) and not self.finished:
            return self.plan.segments[self.index]
        return None

    def start(self, now: float, distance_m: float, index: int = 0) -> SegmentChange:
        """Begin the first segment (or, resuming after a restart, segment ``index``)."""
        self._last_now = now
        self._distance_m = distance_m
        return self._enter(min(max(index, 0), len(self.plan.segments) - 1))

    def on_record(self, now: float, distance_m: float | None, moving: bool) -> SegmentChange | None:
        """Account for time and distance; the next segment when this one is done."""
        if self.finished or self.index < 0:
            return None
        if self._last_now is not None and moving:
            self._seg_time += max(0.0, now - self._last_now)
        self._last_now = now
        if distance_m is not None:
            if distance_m < self._distance_m:  # the machine reset its counter
                self._seg_start_m -= self._distance_m - distance_m
            self._distance_m = distance_m
        seg = self.plan.segments[self.index]
        done_time = seg.duration_s is not None and self._seg_time >= seg.duration_s
        done_distance = (
            seg.distance_m is not None and self._distance_m - self._seg_start_m >= seg.distance_m
        )
        return self.skip() if done_time or done_distance else None

    def skip(self) -> SegmentChange | None:
        """Go to the next segment now (``next_segment``); None when the plan is over."""
        if self.finished:
            return None
        if self.index + 1 >= len(self.plan.segments):
            self.finished = True
            return None
        return self._enter(self.index + 1)

    def progress(self) -> Progress | None:
        """Where we are; None before start."""
        if self.index < 0:
            return None
        seg = self.plan.segments[min(self.index, len(self.plan.segments) - 1)]
        left_s = max(0.0, seg.duration_s - self._seg_time) if seg.duration_s is not None else None
        left_m = (
            max(0.0, seg.distance_m - (self._distance_m - self._seg_start_m))
            if seg.distance_m is not None
            else None
        )
        return Progress(
            self.index,
            len(self.plan.segments),
            seg.direction,
            seg.note,
            left_s,
            left_m,
            self.finished,
        )

    def _enter(self, index: int) -> SegmentChange:
        self.index = index
        self._seg_time = 0.0
        self._seg_start_m = self._distance_m
        seg = self.plan.segments[index]
        return SegmentChange(index, seg.direction, seg.speed_kmh, seg.incline_pct)
