"""Driving the governor in tests: a timeline of events and everything it did."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.safety import Action, Event, GovernorState, SafetyLimits, initial_state, step
from gateway.safety.actions import Alert, CommandResult, Decision, SetTargetSpeed
from gateway.safety.events import ControlGranted, SpeedRangeReported, Tick, TreadmillRecord


@dataclass
class Run:
    """A governor and the actions it produced, step by step."""

    state: GovernorState
    now: float = 0.0
    log: list[tuple[float, Event, list[Action]]] = field(default_factory=list)
    # A treadmill keeps notifying: before each tick, the belt reports its last speed
    # again, so the data watchdog stays quiet in tests about other rules.
    notifying: bool = True

    def feed(self, event: Event, at: float | None = None) -> list[Action]:
        if at is not None:
            self.now = at
        if isinstance(event, Tick) and self.notifying and self.state.reported_c is not None:
            again = TreadmillRecord(self.state.reported_c / 100)
            self.state, echoed = step(self.state, again, self.now)
            self.log.append((self.now, again, echoed))
        self.state, actions = step(self.state, event, self.now)
        self.log.append((self.now, event, actions))
        return actions

    def told(self) -> float:
        """The last target written (0 before any): what the belt was told."""
        written = self.speeds()
        return written[-1][1] if written else 0.0

    def speeds(self, since: float = float("-inf")) -> list[tuple[float, float]]:
        return [
            (t, a.kmh)
            for t, _, actions in self.log
            if t >= since
            for a in actions
            if isinstance(a, SetTargetSpeed)
        ]


def started(limits: SafetyLimits | None = None, *, hr: bool = False) -> Run:
    limits = limits or SafetyLimits(hr_expected=hr)
    run = Run(initial_state(limits))
    run.feed(SpeedRangeReported(0.5, 16.0))
    run.feed(ControlGranted())
    run.feed(TreadmillRecord(0.0))  # standing still when we start
    return run


def of(actions: list[Action], kind: type) -> list[object]:
    return [a for a in actions if isinstance(a, kind)]


def results(actions: list[Action]) -> list[CommandResult]:
    return [a for a in actions if isinstance(a, CommandResult)]


def alerts(actions: list[Action]) -> list[str]:
    return [a.code for a in actions if isinstance(a, Alert)]


def rules(actions: list[Action]) -> list[str]:
    return [a.rule for a in actions if isinstance(a, Decision)]
