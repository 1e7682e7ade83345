"""SAFETY.md invariants under any sequence of events (hypothesis stateful)."""

from __future__ import annotations

import math
import os

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gateway.ftms.units import centi
from gateway.safety import Action, Event, SafetyLimits, initial_state, step
from gateway.safety.actions import CommandResult, Decision, Pause, SetTargetSpeed, ToEngine
from gateway.safety.direction import Direction
from gateway.safety.events import (
    BeltLastSeen,
    Command,
    CommandFailed,
    CommandKind,
    ControlGranted,
    ControlLost,
    EffortTarget,
    Failure,
    HeartRateSample,
    MachineFeatures,
    MachineStopped,
    SegmentChange,
    Shutdown,
    SpeedRangeReported,
    StopKind,
    TargetReported,
    Tick,
    TreadmillRecord,
)
from gateway.safety.governor import PHASES, Phase, overspeed_limit_c, own_echo

WRITES = {"SetTargetSpeed", "SetIncline", "Start", "Pause", "Stop", "RequestControl"}
speeds = st.integers(0, 1600).map(lambda c: c / 100)
values = st.one_of(
    speeds,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["forward", "backward", "fast", ""]),
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
)


class Governor(RuleBasedStateMachine):
    """Random events; the invariants are checked after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.limits = SafetyLimits(backward_cap_kmh=6.0, age=40, hr_expected=True)
        self.state = initial_state(self.limits)
        self.now = 0.0
        self.last: list[Action] = []
        self.last_event: Event | None = None
        self.before = self.state
        self.ids = 0
        # The oracle: what the belt was last told (our writes, the machine's reported
        # target), and the HR step-down as SAFETY.md 10 states it, kept apart from
        # the governor's own bookkeeping.
        self.told: int | None = None
        self.hr_cap: int | None = None
        self.hr_step_at: float | None = None
        self.expect_below: int | None = None
        self.feed(SpeedRangeReported(0.5, 16.0))

    def feed(self, event: Event) -> None:
        self.before = self.state
        self.expect_below = self._expected_step(event)
        self.state, self.last = step(self.state, event, self.now)
        self.last_event = event
        self._follow(event)

    def _expected_step(self, event: Event) -> int | None:
        """An HR sample over the ceiling, a step due: the write must come down to this."""
        lim, s = self.limits, self.state
        if not isinstance(event, HeartRateSample) or event.contact is False or event.bpm <= 0:
            return None
        if s.stopping:
            return None  # after the wind-down nothing is written (invariant 11 checks that)
        if event.bpm < lim.hr_ceiling_bpm - 5 and self.hr_cap is not None:
            self.hr_cap = self.hr_step_at = None  # released
            return None
        if event.bpm <= lim.hr_ceiling_bpm:
            return None
        if not s.running:
            return None  # a stopped belt is not stepped down (nothing is written to it)
        if self.hr_step_at is not None and self.now - self.hr_step_at < lim.hr_step_interval_s:
            return None
        if s.running and s.phase is not Phase.HALTED and event.bpm >= lim.hr_pause_bpm:
            return None  # the pause rule, not a step
        self.hr_step_at = self.now
        told = [c for c in (self.told, self.hr_cap) if c is not None]
        if not told:
            return None
        self.hr_cap = max(min(told) - centi(lim.hr_step_kmh), s.min_c)
        if not s.control.held or s.phase is Phase.HALTED or min(told) <= s.min_c:
            return None
        return self.hr_cap

    def _follow(self, event: Event) -> None:
        for action in self.last:
            if isinstance(action, SetTargetSpeed):
                self.told = centi(action.kmh)
        if isinstance(event, TargetReported):
            self.told = centi(event.target_kmh)
        elif isinstance(event, ControlGranted | ControlLost | CommandFailed | MachineStopped) or (
            isinstance(event, Command)
            and event.kind
            in (
                CommandKind.START,
                CommandKind.PAUSE,
                CommandKind.STOP,
            )
            and any(isinstance(a, CommandResult) and a.ok for a in self.last)
        ):
            self.told = None
        if (
            isinstance(event, Command)
            and event.kind is CommandKind.CONFIRM
            and self.before.phase is Phase.HALTED
            and self.state.phase is not Phase.HALTED
        ):
            self.hr_cap = self.hr_step_at = None

    @rule(dt=st.floats(0.0, 5.0))
    def tick(self, dt: float) -> None:
        self.now += dt
        self.feed(Tick())

    @rule(speed=speeds)
    def record(self, speed: float) -> None:
        self.feed(TreadmillRecord(speed))

    @rule(kmh=speeds)
    def last_seen(self, kmh: float) -> None:
        self.feed(BeltLastSeen(kmh))  # a restart's last recorded speed (any time: robust)

    @rule(kmh=speeds)
    def console_target(self, kmh: float) -> None:
        self.feed(TargetReported(kmh))

    @rule(bpm=st.integers(0, 230), contact=st.sampled_from([True, False, None]))
    def heart(self, bpm: int, contact: bool | None) -> None:
        self.feed(HeartRateSample(bpm, contact))

    @rule(
        index=st.integers(0, 20),
        kmh=speeds,
        incline=st.none() | st.floats(-5, 20, allow_nan=False),
    )
    def hr_controller(self, index: int, kmh: float, incline: float | None) -> None:
        """A heart-rate segment's request: every invariant holds for it too."""
        self.feed(EffortTarget(index, kmh, incline, "hr target"))

    @rule(index=st.integers(0, 20), direction=st.sampled_from(Direction), kmh=speeds)
    def segment(self, index: int, direction: Direction, kmh: float) -> None:
        self.feed(SegmentChange(index, direction, kmh))

    @rule(
        kind=st.sampled_from(CommandKind),
        value=values,
        retained=st.booleans(),
        age=st.none() | st.floats(0, 20),
    )
    def command(self, kind: CommandKind, value: object, retained: bool, age: float | None) -> None:
        self.ids += 1
        issued = None if age is None else self.now - age
        self.feed(Command(f"id{self.ids}", kind, value, issued_at=issued, retained=retained))  # type: ignore[arg-type]

    @rule()
    def replay(self) -> None:
        self.feed(Command(f"id{self.ids}", CommandKind.SET_SPEED, 3.0))

    @rule(kind=st.sampled_from(StopKind))
    def console_button(self, kind: StopKind) -> None:
        self.feed(MachineStopped(kind))

    @rule()
    def shutdown(self) -> None:
        self.feed(Shutdown("SIGTERM"))

    @rule(incline=st.booleans(), control=st.booleans())
    def features(self, incline: bool, control: bool) -> None:
        self.feed(MachineFeatures(incline=incline, control=control))

    @rule(failure=st.sampled_from(Failure))
    def failed(self, failure: Failure) -> None:
        self.feed(CommandFailed("set_target_inclination", "refused", failure))

    @rule()
    def granted(self) -> None:
        self.feed(ControlGranted())

    @rule()
    def lost(self) -> None:
        self.feed(ControlLost("status 0xff"))

    @rule()
    def refused(self) -> None:
        self.feed(CommandFailed("set_target_speed", "operation failed"))

    # --- the invariants -------------------------------------------------------------

    @invariant()
    def never_command_above_the_cap(self) -> None:
        """1: every Set Target Speed while the cap applies is at most the cap."""
        for action in self.last:
            if isinstance(action, SetTargetSpeed):
                assert centi(action.kmh) <= self.state.max_c
                if self.state.cap_active or (
                    self.before.cap_active and self.state.phase is not Phase.RUNNING
                ):
                    assert centi(action.kmh) <= self.state.cap_c, (action, self.state)

    @invariant()
    def every_write_is_within_every_active_limit(self) -> None:
        """10: limits combine by the minimum, on what is written."""
        s, lim = self.state, self.limits
        for action in self.last:
            if not isinstance(action, SetTargetSpeed):
                continue
            c = centi(action.kmh)
            if s.phase in (Phase.TURNING, Phase.DWELL):
                assert c <= centi(lim.turnaround_kmh), (action, s)
            if s.hr.lost and s.direction is Direction.BACKWARD:
                assert c <= centi(lim.backward_walk_kmh), (action, s)
            if self.hr_cap is not None:
                assert c <= max(self.hr_cap, s.min_c), (action, self.hr_cap, s)

    @invariant()
    def every_phase_change_is_a_row_of_the_table(self) -> None:
        """Issue 24: the phases move only as ``PHASES`` says (one event may make two
        moves: found moving at the turnaround speed turns and starts the dwell)."""
        a, b = self.before.phase, self.state.phase
        one = set(PHASES[a].values())
        two = {c for p in one for c in PHASES[p].values()}
        assert a is b or b in one | two, (a, b, self.last_event)

    @invariant()
    def every_target_written_is_known_as_ours(self) -> None:
        """Issue 24: whatever rule wrote a target (a ramp, the cap, a correction, the
        wind-down), its echo (status 0x05) is recognised as ours, never taken for the
        console."""
        for action in self.last:
            if isinstance(action, SetTargetSpeed):
                assert own_echo(self.state, centi(action.kmh)), (self.last_event, action)

    @invariant()
    def after_the_wind_down_nothing_speeds_the_belt(self) -> None:
        """11: the wind-down slows and pauses; after it, no start and nothing faster."""
        if not self.before.stopping:
            if isinstance(self.last_event, Shutdown) and self.before.control.held:
                moving = self.before.running or (self.before.reported_c or 0) > 0
                assert not moving or any(isinstance(a, Pause) for a in self.last), self.last
            return
        for action in self.last:
            assert action.__class__.__name__ not in ("Start", "SetIncline", "RequestControl")
            if isinstance(action, SetTargetSpeed):
                assert centi(action.kmh) <= centi(self.limits.turnaround_kmh)

    @invariant()
    def a_stopped_belt_is_written_no_speed_by_a_rule(self) -> None:
        """Issue 23: the heart-rate rules, the ramp and control regained write nothing to
        a stopped belt (only a start, a segment or a command may set the target)."""
        if self.before.running or not isinstance(
            self.last_event, HeartRateSample | Tick | ControlGranted
        ):
            return
        assert not [a for a in self.last if isinstance(a, SetTargetSpeed)], (
            self.last_event,
            self.before,
        )

    @invariant()
    def hr_step_down_lowers_the_written_target(self) -> None:
        """5 and 10: over the ceiling, the written target drops by a step within one interval."""
        if self.expect_below is None:
            return
        writes = [centi(a.kmh) for a in self.last if isinstance(a, SetTargetSpeed)]
        assert writes, (self.last_event, self.before, self.expect_below)
        assert writes[-1] <= self.expect_below, (writes, self.expect_below)

    @invariant()
    def correct_what_we_did_not_command(self) -> None:
        """2: a record above cap + tolerance is answered in the same step."""
        event, s = self.last_event, self.before
        if not isinstance(event, TreadmillRecord) or not s.cap_active or not s.control.held:
            return
        if s.phase in (Phase.HALTED, Phase.STOPPED):
            return
        limit = overspeed_limit_c(s)
        if limit is None:
            return
        if centi(event.speed_kmh) > limit + centi(self.limits.tolerance_kmh):
            answered = [a for a in self.last if isinstance(a, SetTargetSpeed | Pause)]
            assert answered, (event, s)

    @invariant()
    def escalate_when_ignored(self) -> None:
        """3: over the cap for the whole window ends in a halt."""
        s = self.state
        over = (
            s.over_cap_since is not None and self.now - s.over_cap_since >= self.limits.escalation_s
        )
        if over and s.controllable and isinstance(self.last_event, Tick | TreadmillRecord):
            assert s.phase in (Phase.HALTED, Phase.STOPPED)

    @invariant()
    def watch_mode_writes_nothing(self) -> None:
        """Issue 26: a treadmill without a control point is never written to."""
        if self.before.controllable or self.state.controllable:
            return
        writes = [a for a in self.last if type(a).__name__ in WRITES]
        assert not writes, (self.last_event, writes)

    @invariant()
    def every_command_gets_one_answer(self) -> None:
        """9 and the MQTT contract: exactly one result per command."""
        if isinstance(self.last_event, Command):
            answers = [a for a in self.last if isinstance(a, CommandResult)]
            to_engine = [a for a in self.last if isinstance(a, ToEngine)]
            assert len(answers) + len(to_engine) == 1  # the engine answers what it is handed
            if answers:
                assert answers[0].id == self.last_event.id
            else:
                assert to_engine[0].command == self.last_event

    @invariant()
    def refused_commands_change_nothing(self) -> None:
        """8: a refused command leaves the state as it was (but for the replay memory)."""
        if not isinstance(self.last_event, Command):
            return
        answers = [a for a in self.last if isinstance(a, CommandResult)]
        if not answers or answers[0].ok:
            return
        assert not [a for a in self.last if not isinstance(a, CommandResult | Decision)]
        # A refusal remembers the id and the time (replays, rate); nothing else moves.
        assert self.state.commands.recent == self.before.commands.recent
        assert self.state._replace(commands=self.before.commands) == self.before

    @invariant()
    def every_action_is_explained(self) -> None:
        """9: every belt action comes with a decision record."""
        moves = [
            a
            for a in self.last
            if not isinstance(a, CommandResult | Decision) and a.__class__.__name__ != "Alert"
        ]
        decisions = [a for a in self.last if isinstance(a, Decision)]
        assert len(decisions) >= len(moves)

    @precondition(lambda self: self.state.phase is Phase.HALTED)
    @rule()
    def nothing_moves_the_belt_up_while_halted(self) -> None:
        """3 (cont.): until confirmed, no command starts the belt or raises the target."""
        self.ids += 1
        self.feed(Command(f"id{self.ids}", CommandKind.START))
        assert not [a for a in self.last if a.__class__.__name__ == "Start"]
        assert math.isfinite(self.now)


TestGovernor = Governor.TestCase
# Twice the profile's examples (dev 200, CI 600, the fast lane 80); GOVERNOR_EXAMPLES overrides.
_EXAMPLES = int(os.environ.get("GOVERNOR_EXAMPLES", str(2 * settings().max_examples)))
TestGovernor.settings = settings(max_examples=_EXAMPLES, stateful_step_count=60, deadline=None)
