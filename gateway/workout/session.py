"""A workout's lifecycle, pure: when the plan starts, ends, skips, loads, and holds a heart rate.

The station core asks it at the moments that matter (a record, control
granted, a tick, a command the governor handed over) and gives it the
governor's :class:`~gateway.safety.governor.View`; it answers with what should
happen: events for the governor (a segment, a start or stop of the plan's
own, a heart-rate segment's effort), alerts, answers to commands and log
lines. It never calls the governor itself, so the core handles each event to
the end before the next, and every rule here is tested without the core
(tests/unit/test_workout_session.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..safety.actions import Alert, CommandResult, Level
from ..safety.direction import Direction
from ..safety.events import Command, CommandKind, Event, SegmentChange
from ..safety.governor import View
from ..safety.limits import SafetyLimits
from .engine import Progress, WorkoutEngine
from .hrcontrol import Effort
from .hrtarget import HrTarget, parse_target
from .plan import Plan

APP_SOURCE = "app"  # commands from an app on the bridge
APP_PLAN_OWNS = frozenset({CommandKind.SET_SPEED, CommandKind.SET_INCLINE})
FREE_START_KMH = 3.0  # set_hr_target on a standing belt starts from a walk
MAX_HR_INCLINE_PCT = 15.0  # a heart-rate segment never asks for more (walking uphill)


@dataclass(frozen=True, slots=True)
class Note:
    """A line for the gateway's log."""

    level: int
    text: str


Out = Event | Alert | CommandResult | Note


class WorkoutSession:
    """One station's plan (or free running) and its heart-rate target."""

    def __init__(self, limits: SafetyLimits, plan: Plan | None = None) -> None:
        self.limits = limits
        self.plan = plan
        self.engine = WorkoutEngine(plan) if plan else None
        self.started = False
        self.resume_segment: int | None = None  # a restarted session goes on from here
        self.distance_m = 0.0  # the machine's counter, for a plan started mid-session
        self.hr = HrTarget(limits.age)

    @property
    def waiting(self) -> bool:
        """A plan is loaded and has not started (a finished plan never starts again)."""
        return self.engine is not None and not self.started and not self.engine.finished

    def allow_incline(self, max_pct: float) -> None:
        """The machine takes incline targets up to ``max_pct``: a heart-rate segment may use
        them, up to a walker's 15 %."""
        self.hr.max_incline_pct = min(MAX_HR_INCLINE_PCT, max_pct)

    def begin(self, v: View, now: float) -> list[Out]:
        """Start the plan, once control is held and whether the belt moves is known."""
        engine, plan = self.engine, self.plan
        if engine is None or plan is None or not self.waiting:
            return []
        if not v.settled or v.stopping:
            return []
        self.started = True
        lim = self.limits
        out: list[Out] = [
            Alert(Level.WARNING, "plan_warning", warning)
            for warning in plan.warnings(
                lim.backward_cap_kmh,
                lim.backward_segment_limit_m,
                age=lim.age,
                hr_ceiling_bpm=lim.hr_ceiling_bpm,
            )
        ]
        start_at = self.resume_segment or 0
        if start_at:
            out.append(Note(logging.INFO, f"resuming the plan at segment {start_at + 1}"))
        out.append(engine.start(now, self.distance_m, start_at))
        out.append(Command(f"plan-start-{now:.3f}", CommandKind.START, source="plan"))
        return out

    def on_record(self, now: float, distance_m: float | None, moving: bool) -> list[Out]:
        """A treadmill record: the next segment, or the end, when this one is done."""
        if distance_m is not None:
            self.distance_m = float(distance_m)
        if self.engine is None or not self.started:
            return []
        change = self.engine.on_record(now, distance_m, moving=moving)
        if change is not None:
            return [change]
        return self._finish(now) if self.engine.finished else []

    def refuses(self, c: Command) -> str | None:
        """The ownership rule (docs/bridge.md): while a plan runs, the plan owns the speed
        and the incline, and an app's requests for them are refused (its stop and pause
        are not). The runner's own buttons (dashboard, MQTT) still adjust a plan."""
        if c.source == APP_SOURCE and self.started and c.kind in APP_PLAN_OWNS:
            return "a plan is running: it sets the speed and the incline (pause or stop work)"
        return None

    def segment_began(self, e: SegmentChange) -> None:
        """A segment reaches the governor (ours or a test's): its heart-rate target, if any."""
        segments = self.plan.segments if self.plan is not None else ()
        self.hr.segment(e.index, segments[e.index] if 0 <= e.index < len(segments) else None)

    def command(self, c: Command, v: View, now: float) -> list[Out]:
        """``next_segment`` and ``set_hr_target``, admitted by the governor."""
        if c.kind is CommandKind.SET_HR_TARGET:
            return self._hr_target(c, v)
        if c.kind is not CommandKind.NEXT_SEGMENT:
            raise ValueError(f"not a session command: {c.kind.value}")  # load_plan: ``load``
        if self.engine is None or not self.started:
            return [CommandResult(c.id, False, error="no workout plan is running")]
        change = self.engine.skip()
        if change is None:
            done = CommandResult(c.id, True, applied="that was the last segment")
            return [done, *self._finish(now)]
        return [change, CommandResult(c.id, True, applied=f"segment {change.index + 1}")]

    def load(self, c: Command, plan: Plan, v: View, now: float) -> list[Out]:
        """``load_plan``, read by the shell: the new plan starts from its first segment."""
        self.plan, self.engine = plan, WorkoutEngine(plan)
        self.started = False
        self.resume_segment = None
        return [*self.begin(v, now), CommandResult(c.id, True, applied=f"plan {plan.name!r}")]

    def tick(self, v: View, now: float) -> list[Out]:
        """A heart-rate segment's request, through the governor; out of reach said once."""
        told = self.hr.out_of_reach
        request = self.hr.tick(v, now)
        out: list[Out] = [request] if request is not None else []
        if self.hr.out_of_reach is not None and told is None:
            out.append(Alert(Level.INFO, "hr_out_of_reach", self.hr.out_of_reach))
        return out

    def speed_set_by_hand(self) -> list[Out]:
        """A speed set by hand ends free mode's heart-rate control, or it would undo it."""
        if not self.hr.free_mode:
            return []
        self.hr.off()
        return [Alert(Level.INFO, "hr_target_off", "Heart-rate target off: speed set by hand.")]

    def progress(self) -> Progress | None:
        """Where the plan is, for the snapshot."""
        return self.engine.progress() if self.engine is not None else None

    def turnaround_ahead(self, progress: Progress | None) -> tuple[float | None, float | None]:
        """Seconds until the plan next turns the runner around; metres left backward."""
        if progress is None or self.plan is None or progress.finished:
            return None, None
        after = self.plan.segments[progress.index + 1 :]
        turns = bool(after) and after[0].direction is not progress.direction
        backward = progress.direction is Direction.BACKWARD
        return (
            round(progress.left_s, 1) if turns and progress.left_s is not None else None,
            round(progress.left_m, 1) if backward and progress.left_m is not None else None,
        )

    def _finish(self, now: float) -> list[Out]:
        if not self.started:
            return []
        self.started = False
        return [
            Alert(Level.INFO, "plan_done", "Workout complete. Well done!"),
            Command(f"plan-stop-{now:.3f}", CommandKind.STOP, source="plan"),
        ]

    def _hr_target(self, c: Command, v: View) -> list[Out]:
        """``set_hr_target`` in free mode: a plan's segments hold their own targets."""
        if self.engine is not None and self.started:
            error = "a plan is running: its segments set the heart-rate target"
            return [CommandResult(c.id, False, error=error)]
        try:
            target = parse_target(c.value, self.limits.age)
        except ValueError as exc:
            return [CommandResult(c.id, False, error=str(exc))]
        if target is None:
            self.hr.off()
            return [CommandResult(c.id, True, applied="heart-rate target off")]
        speed = v.requested_kmh or v.reported_kmh or FREE_START_KMH
        self.hr.free(v.segment, target, Effort(speed, v.incline_pct or 0.0))
        return [CommandResult(c.id, True, applied=f"holding heart rate {target}")]
