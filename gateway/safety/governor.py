"""The governor: ``step(state, event, now) -> (state, actions)``.

Every Set Target Speed it emits is made in :func:`_write`: the guard (who may
write in this phase, see ``WRITERS``), the clamp to :func:`ceiling_c` (the
backward cap, the turnaround speed, the HR fallback and the machine's range),
the snap to the machine's grid and the bookkeeping the echo filter reads.
Nothing else creates one. Speeds are integers of 0.01 km/h inside, so
"6.2 > 6.0 + 0.2" is decided exactly.

The phases and what moves between them are one table, ``PHASES`` (h11's
state table is the model): the table is the documentation, every phase change
goes through :func:`_enter`, and tests/unit/test_governor_invariants.py checks
every change it sees against the table. ``running`` (the belt runs) and
``over_cap_since`` (a timer) are not phases: either can be true in several.

Events are dispatched by one table, ``HANDLERS`` (commands by kind inside it);
an event with no handler is a programming error, raised, never taken for a
safety event.

The rules (``Rule`` in actions.py), each a handler below and a row in
tests/unit/test_governor_rules.py (``ROWS``: a test fails if a rule has none):

| rule | trigger | action |
|---|---|---|
| segment | the workout's segment speed | command it (ramped) |
| command | an outside command | carry it out, or hand it to the engine |
| cap | target during a backward segment | command at most the cap |
| correct_overspeed | belt > cap + tolerance (record) | Set Target Speed(cap) now |
| correct_target | machine target > cap (status 0x05) | Set Target Speed(cap) now |
| escalate | still over after the window | Pause, halt until confirmed |
| turnaround | direction change while moving | slow to turnaround, dwell, then ramp |
| ramp | target above the current command | at most accel x 1 s per step |
| hr_ceiling | HR above the ceiling | step down every interval |
| hr_pause | HR above the pause threshold | Pause, halt |
| hr_lost | no HR for the timeout, backward | slow to backward walking speed |
| control_lost | 0xFF, refused command, timeout | Request Control with backoff, alert |
| control_granted | control (re)granted | re-assert the cap and the target |
| command_refused | not supported / invalid parameter | note it; control is kept |
| restart | first record shows the belt moving, no run of ours | turnaround, then the plan |
| data_lost | no Treadmill Data for the data window while running | Pause, Reconnect, alert |
| wind_down | the gateway stops (signal, error, --duration) | turnaround speed, Pause |
| stale_command | expired, retained, replayed | refuse with a reason |
| rate_limited | more than RATE_MAX commands in RATE_WINDOW_S | refuse with a reason |
| bad_command | malformed or out of range | refuse with a reason |
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

from ..ftms.units import centi
from .actions import (
    Action,
    Alert,
    CommandResult,
    Decision,
    Facts,
    Level,
    Pause,
    Reconnect,
    RequestControl,
    Rule,
    SetIncline,
    SetTargetSpeed,
    Start,
    Stop,
    ToEngine,
)
from .direction import Direction
from .events import (
    BeltLastSeen,
    Command,
    CommandFailed,
    CommandKind,
    ControlGranted,
    ControlLost,
    EffortTarget,
    Event,
    Failure,
    HeartRateSample,
    MachineFeatures,
    MachineStopped,
    RefusedCommand,
    SegmentChange,
    Shutdown,
    SpeedRangeReported,
    StopKind,
    TargetReported,
    Tick,
    TreadmillRecord,
)
from .limits import HARD_CEILING_KMH, SafetyLimits

NO_FACTS = Facts()
RAMP_INTERVAL_S = 1.0
TURN_TIMEOUT_S = 20.0  # a belt that has not slowed for the turnaround by then is ignoring us
HR_RELEASE_BPM = 5.0  # hysteresis below the ceiling before the step-down is released
SEEN_IDS = 256  # command ids remembered to refuse replays
RATE_WINDOW_S = 1.0
RATE_MAX = 20  # commands per window from outside (the plan's own are not counted)
TOO_FAST_REPEAT_S = 8.0  # watch mode: "slow down" again (the voice's no-repeat window)
RECENT_COMMANDS = 4  # echoes (status 0x05) of our own targets can arrive after the next one


class Phase(StrEnum):
    """Where the governor is in a run."""

    RUNNING = "running"  # following the plan and the commands (the belt may stand)
    TURNING = "turning"  # slowing down to the turnaround speed
    DWELL = "dwell"  # holding the turnaround speed, counting down
    HALTED = "halted"  # escalated: paused until the runner confirms
    STOPPED = "stopped"  # the wind-down ran: nothing moves the belt any more


class Trigger(StrEnum):
    """What moves the governor from one phase to another: the table's columns."""

    TURN = "turn"  # a direction change while the belt moves
    FOUND_MOVING = "found_moving"  # the restart rule: moving, and not started by us
    SLOWED = "slowed"  # down to the turnaround speed: the dwell starts
    TURNED = "turned"  # the dwell's countdown ran out
    CALLED_OFF = "called_off"  # the turn is moot: the same way again, or the belt stood
    STOOD = "stood"  # thought moving (the last record), standing on the first
    HALT = "halt"  # escalation, the HR pause: paused until the runner confirms
    CONFIRM = "confirm"  # the runner confirmed a halt
    SHUTDOWN = "shutdown"  # the gateway stops: the wind-down


_P, _T = Phase, Trigger
PHASES: dict[Phase, dict[Trigger, Phase]] = {
    _P.RUNNING: {
        _T.TURN: _P.TURNING,
        _T.FOUND_MOVING: _P.TURNING,
        _T.HALT: _P.HALTED,
        _T.SHUTDOWN: _P.STOPPED,
    },
    _P.TURNING: {
        _T.TURN: _P.TURNING,  # turned again while slowing: towards the newest direction
        _T.SLOWED: _P.DWELL,
        _T.CALLED_OFF: _P.RUNNING,
        _T.STOOD: _P.RUNNING,
        _T.HALT: _P.HALTED,
        _T.SHUTDOWN: _P.STOPPED,
    },
    _P.DWELL: {
        _T.TURN: _P.TURNING,
        _T.TURNED: _P.RUNNING,
        _T.CALLED_OFF: _P.RUNNING,
        _T.HALT: _P.HALTED,
        _T.SHUTDOWN: _P.STOPPED,
    },
    # Halted, a direction change is noted, not turned: nothing moves the belt until
    # the runner confirms (the console may restart it; that is the runner's hand).
    _P.HALTED: {_T.CONFIRM: _P.RUNNING, _T.SHUTDOWN: _P.STOPPED},
    _P.STOPPED: {},
}
# Who may write a speed in each phase. Halted, only the wind-down (slow a belt the
# console restarted, then pause); stopped, nobody.
WRITERS: dict[Phase, frozenset[Rule] | None] = {
    _P.RUNNING: None,  # None: every rule
    _P.TURNING: None,
    _P.DWELL: None,
    _P.HALTED: frozenset({Rule.WIND_DOWN}),
    _P.STOPPED: frozenset(),
}


class Turn(NamedTuple):
    """A direction change under way: slowing (TURNING), then the dwell's countdown."""

    pending_direction: Direction | None = None  # asked for while moving: after the turn
    pending_target_c: int = 0  # the speed to ramp to once turned
    recovering: bool = False  # found moving after a restart: turning around into the plan
    since: float | None = None  # slowing since (a belt that never slows is halted)
    dwell_until: float | None = None
    dwell_announced: int | None = None  # the last "turn around in N s" said


class HrState(NamedTuple):
    """The runner's heart rate and the ceiling's step-down."""

    bpm: int | None = None
    at: float | None = None  # the last sample (a silent strap is HR lost)
    limit_c: int | None = None  # the step-down: a ceiling on what is written
    step_at: float | None = None
    lost: bool = False


class Control(NamedTuple):
    """Whether we hold the control point, and when to ask again."""

    held: bool = False
    retry_at: float | None = None
    backoff_s: float = 1.0


class DataWatch(NamedTuple):
    """Treadmill Data arriving: the watchdog's view."""

    last_record_at: float | None = None
    interval_s: float = 1.0  # observed, smoothed: widens the data window
    lost: bool = False
    last_tick_at: float | None = None  # a late tick is our stall, not a silent treadmill


class CommandLog(NamedTuple):
    """What the admission check and the echo filter remember."""

    seen_ids: tuple[str, ...] = ()  # to refuse replays
    times: tuple[float, ...] = ()  # recent outside commands, for the rate limit
    recent: tuple[int, ...] = ()  # our own recent targets: late status echoes of these are ours


class GovernorState(NamedTuple):
    """Everything the governor knows; replaced, never mutated.

    A NamedTuple rather than a frozen dataclass: the governor copies it on
    nearly every event, and a tuple copy is several times cheaper (measured
    in tests/bench/test_bench_governor.py). The belt's own fields are flat;
    the concerns that come and go together are sub-records.
    """

    limits: SafetyLimits
    cap_c: int
    min_c: int = 0
    max_c: int = 2000
    step_c: int = 1  # the machine's speed increment: it snaps targets to this grid
    direction: Direction = Direction.FORWARD
    phase: Phase = Phase.RUNNING
    running: bool = False
    running_since: float | None = None
    requested_c: int = 0
    incline_pct: float | None = None  # the incline asked for (plan, controller, command)
    incline_written: float | None = None  # ... and the last one written (None: not since control)
    commanded_c: int | None = None
    commanded_at: float | None = None
    reported_c: int | None = None
    target_c: int | None = None
    over_cap_since: float | None = None
    segment: int | None = None
    incline_supported: bool = True
    incline_noted: bool = False
    controllable: bool = True  # False: no control point (watch mode): the runner sets speeds
    warned_at: float | None = None  # watch mode: when "too fast for backward" was last said
    turn: Turn = Turn()
    hr: HrState = HrState()
    control: Control = Control()
    data: DataWatch = DataWatch()
    commands: CommandLog = CommandLog()

    @property
    def stopping(self) -> bool:
        """The wind-down ran: nothing moves the belt any more."""
        return self.phase is Phase.STOPPED

    @property
    def belt_seen(self) -> bool:
        """A record since start: we know whether the belt moves."""
        return self.data.last_record_at is not None

    @property
    def cap_active(self) -> bool:
        """The backward cap applies now (backward, or turning around)."""
        return self.direction is Direction.BACKWARD or self.phase in (Phase.TURNING, Phase.DWELL)

    @property
    def cap_held(self) -> bool:
        """We can enforce the cap: we hold control. Never pretend otherwise."""
        return self.control.held

    @property
    def cap_limiting(self) -> bool:
        """The cap is holding something down: the request, the machine's target or
        the belt is above it (what the dashboard's CAPPED means)."""
        if not self.cap_active or not self.control.held:
            return False  # without control it holds nothing down (NO CONTROL says so)
        above = [c for c in (self.requested_c, self.target_c, self.reported_c) if c is not None]
        return self.over_cap or any(c > self.cap_c for c in above)

    @property
    def over_cap(self) -> bool:
        """The belt is above the cap plus tolerance while the cap applies."""
        return self.over_cap_since is not None


_Record = TypeVar("_Record", GovernorState, Turn, HrState, Control, DataWatch, CommandLog)
_INDEX: dict[type, dict[str, int]] = {
    cls: {name: i for i, name in enumerate(cls._fields)}
    for cls in (GovernorState, Turn, HrState, Control, DataWatch, CommandLog)
}
_new_tuple = tuple.__new__


def replace(s: _Record, **changes: object) -> _Record:
    """``s`` with some fields changed (a faster ``_replace`` for the hot path).

    Works for the state and each of its sub-records.
    """
    cls = type(s)
    index = _INDEX[cls]
    values: list[object] = list(s)
    for name, value in changes.items():
        values[index[name]] = value
    return _new_tuple(cls, values)


def initial_state(limits: SafetyLimits) -> GovernorState:
    """A governor for a fresh session."""
    return GovernorState(limits=limits, cap_c=centi(limits.backward_cap_kmh))


def ceiling_c(s: GovernorState, now: float) -> int:
    """The fastest target the governor may command right now."""
    limit = s.max_c
    if s.cap_active:
        limit = min(limit, s.cap_c)
    if s.phase in (Phase.TURNING, Phase.DWELL):
        limit = min(limit, centi(s.limits.turnaround_kmh))
    if s.hr.lost and s.direction is Direction.BACKWARD:
        limit = min(limit, centi(s.limits.backward_walk_kmh))
    if s.hr.limit_c is not None:
        limit = min(limit, s.hr.limit_c)
    return max(limit, 0)


class View(NamedTuple):
    """What the governor shows the rest of a station: read here, never its fields.

    The station core and the workout session act on this (when a plan may
    start, what a heart-rate segment may ask, what the snapshot shows), so the
    governor's own bookkeeping can change without them.
    """

    phase: Phase
    direction: Direction
    running: bool  # the belt runs (started, not paused)
    control_held: bool
    controllable: bool  # False: watch mode (no control point: the runner sets the speed)
    belt_seen: bool  # a record since start: whether the belt moves is known
    segment: int | None
    requested_kmh: float  # what the plan or a command asked, before any limit
    reported_kmh: float | None  # the belt's last record
    commanded_kmh: float | None  # what the belt was last told
    incline_pct: float | None
    incline_supported: bool
    min_kmh: float  # the machine's range
    ceiling_kmh: float  # the fastest target the governor would write now
    cap_kmh: float
    cap_active: bool
    cap_limiting: bool
    hr_bpm: int | None  # fresh only (see hr_fresh)
    hr_step_down: bool  # the ceiling's step-down holds the belt

    @property
    def stopping(self) -> bool:
        """The wind-down ran: nothing starts any more."""
        return self.phase is Phase.STOPPED

    @property
    def settled(self) -> bool:
        """A plan may start: we hold control (or there is none to hold: watch mode, where
        the plan's timing and cues run and the runner sets the speed) and know whether the
        belt moves."""
        return (self.control_held or not self.controllable) and self.belt_seen


def view(s: GovernorState, now: float) -> View:
    """The station's read of the governor at ``now``."""
    return View(
        phase=s.phase,
        direction=s.direction,
        running=s.running,
        control_held=s.control.held,
        controllable=s.controllable,
        belt_seen=s.belt_seen,
        segment=s.segment,
        requested_kmh=s.requested_c / 100,
        reported_kmh=None if s.reported_c is None else s.reported_c / 100,
        commanded_kmh=None if s.commanded_c is None else s.commanded_c / 100,
        incline_pct=s.incline_pct,
        incline_supported=s.incline_supported,
        min_kmh=s.min_c / 100,
        ceiling_kmh=ceiling_c(s, now) / 100,
        cap_kmh=s.cap_c / 100,
        cap_active=s.cap_active,
        cap_limiting=s.cap_limiting,
        hr_bpm=s.hr.bpm if hr_fresh(s, now) else None,
        hr_step_down=s.hr.limit_c is not None,
    )


def hr_fresh(s: GovernorState, now: float) -> bool:
    """A usable heart rate: a sample within the HR timeout, and not declared lost.

    The one rule for whoever acts on the heart rate (the heart-rate target, the
    energy estimate); the governor's own HR-lost rule is what sets ``lost``.
    """
    hr = s.hr
    return (
        not hr.lost
        and hr.bpm is not None
        and hr.at is not None
        and now - hr.at <= s.limits.hr_timeout_s
    )


def overspeed_limit_c(s: GovernorState) -> int | None:
    """The speed above which the belt endangers the runner, or None when facing forward.

    Facing backward: the backward cap. Turning around (the dwell): the
    turnaround speed. Slowing down for a turn while still facing forward is
    expected to take a while and is no overspeed (its own timeout applies),
    unless nothing of ours slows it (watch mode, control lost): then the runner
    must, and the turnaround speed is the limit they are told.
    """
    turning_by_hand = s.phase is Phase.TURNING and not s.control.held
    if s.phase is Phase.DWELL or turning_by_hand:
        return min(s.cap_c, centi(s.limits.turnaround_kmh), s.max_c)
    if s.direction is Direction.BACKWARD:
        return min(s.cap_c, s.max_c)
    return None


def _snap(s: GovernorState, c: int) -> int:
    """Down onto the machine's grid, so the echo of a target is the target (and never more)."""
    if c <= s.min_c or s.step_c <= 1:
        return c
    return s.min_c + (c - s.min_c) // s.step_c * s.step_c


def own_echo(s: GovernorState, c: int) -> bool:
    """A reported target is the echo of one of our recent writes (not the console)."""
    return any(abs(c - mine) < max(s.step_c, 1) for mine in s.commands.recent)


def _goal_c(s: GovernorState, now: float) -> int:
    wanted = s.requested_c
    if s.phase in (Phase.TURNING, Phase.DWELL):
        wanted = centi(s.limits.turnaround_kmh)
    ceiling = ceiling_c(s, now)
    if wanted <= 0:
        # No speed of ours: the belt's own target stands, but never above a limit
        # (the HR step-down on a belt the console set, found by the hypothesis oracle).
        belt = s.target_c if s.target_c is not None else (s.commanded_c or 0)
        wanted = belt if belt > ceiling else 0
    goal = min(wanted, ceiling)
    return max(goal, s.min_c) if goal > 0 else 0


def data_window_s(s: GovernorState) -> float:
    """How long without Treadmill Data before the silence counts as lost control."""
    return max(s.limits.data_window_s, 3 * s.data.interval_s)


class _Out:
    """Collects actions; every speed command is logged with its rule."""

    def __init__(self) -> None:
        self.actions: list[Action] = []

    def decide(self, rule: Rule, why: str, action: Action, what: str) -> None:
        self.actions.append(action)
        self.actions.append(Decision(rule, why, what))

    def alert(self, level: Level, code: str, message: str, facts: Facts = NO_FACTS) -> None:
        self.actions.append(Alert(level, code, message, facts))


def _kmh(c: int) -> str:
    return f"{c / 100:.2f} km/h"


def _enter(s: GovernorState, trigger: Trigger, **changes: object) -> GovernorState:
    """The one way to change phase: the table says where ``trigger`` leads from here."""
    to = PHASES[s.phase].get(trigger)
    if to is None:
        raise ValueError(f"no {trigger.value!r} from {s.phase.value!r} in PHASES")
    return replace(s, phase=to, **changes)


def _can(s: GovernorState, trigger: Trigger) -> bool:
    return trigger in PHASES[s.phase]


def _may_write(s: GovernorState, rule: Rule) -> bool:
    """Whether ``rule`` may set the belt's target now (the guard, in one place)."""
    if not (s.control.held and s.controllable):
        return False  # not ours to write (control_lost asks again), or no control point
    writers = WRITERS[s.phase]
    if writers is not None and rule not in writers:
        return False  # halted or stopped: nothing moves the belt
    return s.running or rule not in RUNNING_ONLY  # a stopped belt: only on the way to a start


def _write(
    s: GovernorState, out: _Out, now: float, rule: Rule, why: str, c: int, *, again: bool = False
) -> GovernorState:
    """The only Set Target Speed: guard, clamp to the ceiling, snap, and remember it.

    Remembered in ``commands.recent`` so its status echo is known as ours
    (:func:`own_echo`). ``again``: write even if it is what the belt was told
    (a correction: the machine ignored or overrode the last one).
    """
    if not _may_write(s, rule):
        return s
    c = _snap(s, min(c, ceiling_c(s, now)))  # the invariant, whatever came before
    if c <= 0 or (c == s.commanded_c and not again):
        return s  # 0 is not a speed a treadmill accepts
    out.decide(rule, why, SetTargetSpeed(c / 100), f"set target {_kmh(c)}")
    recent = (*s.commands.recent[-(RECENT_COMMANDS - 1) :], c)
    return replace(s, commanded_c=c, commanded_at=now, commands=replace(s.commands, recent=recent))


def _incline(s: GovernorState, out: _Out, rule: Rule, why: str) -> GovernorState:
    """The only Set Target Inclination, behind the guard a speed write has: control held,
    a control point, and the phase's writers. One not written now is written when
    control comes back (``_on_granted``)."""
    pct = s.incline_pct
    if pct is None or pct == s.incline_written or not s.incline_supported:
        return s
    writers = WRITERS[s.phase]
    if not (s.control.held and s.controllable) or (writers is not None and rule not in writers):
        return s
    out.decide(rule, why, SetIncline(pct), f"incline {pct} %")
    return replace(s, incline_written=pct)


def _told(s: GovernorState, c: int, now: float) -> GovernorState:
    """Someone else (the console) told the belt ``c``: not a write of ours."""
    return replace(s, commanded_c=c, commanded_at=now)


def _command(
    s: GovernorState, out: _Out, now: float, rule: Rule, why: str, *, ramp: bool = True
) -> GovernorState:
    """Move the commanded target towards the goal, ramped; written by :func:`_write`."""
    if not _may_write(s, rule):
        return s
    goal = _goal_c(s, now)
    if goal <= 0:
        return s  # no target yet (0 is not a speed a treadmill accepts)
    wanted = s.requested_c
    if s.cap_active and wanted > goal >= s.cap_c and s.phase is Phase.RUNNING:
        rule, why = Rule.CAP, f"{why}; {_kmh(wanted)} capped at {_kmh(goal)}"
    current = s.commanded_c if s.commanded_c is not None else (s.reported_c or 0)
    if ramp and goal > current:
        accel = (
            s.limits.backward_accel_kmh_s
            if s.direction is Direction.BACKWARD
            else s.limits.forward_accel_kmh_s
        )
        if s.commanded_at is not None and now - s.commanded_at < RAMP_INTERVAL_S:
            return s
        goal = min(goal, current + centi(accel * RAMP_INTERVAL_S))
        goal = max(goal, s.min_c)
    return _write(s, out, now, rule, why, goal)


# Rules that adjust a moving belt: with the belt stopped (the plan's end, a pause) they
# write nothing. The segment, a command and the restart rule may set the target a start
# then runs at.
RUNNING_ONLY = frozenset({Rule.HR_CEILING, Rule.HR_LOST, Rule.RAMP, Rule.CONTROL_GRANTED})


# --- handlers ------------------------------------------------------------------------


def _on_record(s: GovernorState, e: TreadmillRecord, now: float, out: _Out) -> GovernorState:
    c = centi(e.speed_kmh)
    first = not s.belt_seen
    if first and c == 0 and s.turn.recovering and s.phase is Phase.TURNING:
        # Thought moving (its last record before the restart); it stopped meanwhile.
        out.actions.append(
            Decision(Rule.RESTART, "the belt stands on its first record", "nothing to slow")
        )
        s = _enter(s, Trigger.STOOD, running=False, turn=Turn())
    s = _data_seen(replace(s, reported_c=c), now, out)
    if first and c > 0 and not s.running and s.phase is Phase.RUNNING and s.controllable:
        s = _found_moving(s, c, now, out)
    danger = overspeed_limit_c(s)
    if danger is not None and c > danger + centi(s.limits.tolerance_kmh):
        limit = _snap(s, ceiling_c(s, now))
        since = s.over_cap_since if s.over_cap_since is not None else now
        s = replace(s, over_cap_since=since)
        if not s.control.held:  # nothing corrects it: the runner must, by hand
            s = _too_fast(s, c, danger, now, out)
            if not s.controllable:
                return s  # watch mode: no control point to pause through either
        if _can(s, Trigger.HALT) and now - since >= s.limits.escalation_s:
            return _escalate(s, out, f"belt {_kmh(c)} above {_kmh(danger)} for {now - since:.1f} s")
        if _may_write(s, Rule.CORRECT_OVERSPEED):
            why = f"belt {_kmh(c)} > limit {_kmh(limit)} + tolerance"
            s = _write(s, out, now, Rule.CORRECT_OVERSPEED, why, limit, again=True)
            out.alert(
                Level.WARNING,
                "overspeed",
                f"Belt at {_kmh(c)}, slowing to {_kmh(limit)}",
                Facts(speed_kmh=c / 100, limit_kmh=limit / 100),
            )
        return s
    if s.over_cap_since is not None:
        s = replace(s, over_cap_since=None)
    if s.phase is Phase.TURNING and c <= centi(s.limits.turnaround_kmh + s.limits.tolerance_kmh):
        s = _begin_dwell(s, now, out)
    return s


def _too_fast(s: GovernorState, c: int, danger: int, now: float, out: _Out) -> GovernorState:
    """Over the limit with no control to correct it: tell the runner to slow down by hand,
    again every TOO_FAST_REPEAT_S while it lasts (watch mode, docs/hardware.md)."""
    if s.warned_at is not None and now - s.warned_at < TOO_FAST_REPEAT_S:
        return s
    turning = s.phase is not Phase.RUNNING
    out.alert(
        Level.DANGER,
        "too_fast_turn" if turning else "too_fast",
        f"Too fast {'to turn' if turning else 'for backward'}: slow down to {danger / 100:g} "
        f"km/h (the belt is at {_kmh(c)}).",
        Facts(speed_kmh=c / 100, limit_kmh=danger / 100),
    )
    return replace(s, warned_at=now)


def _data_seen(s: GovernorState, now: float, out: _Out) -> GovernorState:
    """Track the record interval (for the data window); announce data coming back."""
    interval = s.data.interval_s
    if s.data.last_record_at is not None and 0 < now - s.data.last_record_at <= 10 * interval:
        interval = 0.7 * interval + 0.3 * (now - s.data.last_record_at)
    if s.data.lost:
        out.alert(Level.INFO, "data_back", "Treadmill data is back.")
    return replace(s, data=replace(s.data, last_record_at=now, interval_s=interval, lost=False))


def _on_last_seen(s: GovernorState, e: BeltLastSeen, now: float, out: _Out) -> GovernorState:
    """Moving when the last gateway stopped: slow it the moment control is granted."""
    c = centi(e.speed_kmh)
    if s.belt_seen or s.running or s.phase is not Phase.RUNNING or not s.controllable:
        return s  # the belt itself has spoken (or we started it, or we stop): it decides
    if c <= centi(s.limits.turnaround_kmh + s.limits.tolerance_kmh):
        return s
    return _found_moving(s, c, now, out, recorded=True)


def _found_moving(
    s: GovernorState, c: int, now: float, out: _Out, *, recorded: bool = False
) -> GovernorState:
    """The belt runs and nothing of ours started it: a restart mid-run. Turn around first.

    Which way the runner faces is unknown, so treat it as a turnaround: the
    turnaround speed, the dwell with its countdown, and only then the plan's
    segment (set while turning, see ``_change_direction``), ramped.
    """
    turn = min(s.limits.turnaround_kmh, s.cap_c / 100)
    out.alert(
        Level.WARNING,
        "restart",
        (
            f"The belt was moving at {_kmh(c)} when the gateway stopped"
            if recorded  # the session's last record, not the belt itself yet
            else f"The belt was already moving at {_kmh(c)}"
        )
        + f": slowing to {turn:g} km/h before going on.",
        Facts(speed_kmh=c / 100, limit_kmh=turn),
    )
    s = _enter(
        s,
        Trigger.FOUND_MOVING,
        running=True,
        running_since=now,
        turn=Turn(since=now, recovering=True),
    )
    s = _command(s, out, now, Rule.RESTART, f"belt moving at {_kmh(c)} on start", ramp=False)
    if c <= centi(s.limits.turnaround_kmh + s.limits.tolerance_kmh):
        s = _begin_dwell(s, now, out)
    return s


def _escalate(s: GovernorState, out: _Out, why: str) -> GovernorState:
    out.decide(Rule.ESCALATE, why, Pause(), "pause the belt; halt until the runner confirms")
    out.alert(
        Level.DANGER, "escalated", f"Belt did not slow down ({why}); paused. Confirm to go on."
    )
    return _enter(s, Trigger.HALT, running=False)


def _on_target(s: GovernorState, e: TargetReported, now: float, out: _Out) -> GovernorState:
    c = centi(e.target_kmh)
    s = replace(s, target_c=c)
    limit = _snap(s, ceiling_c(s, now))
    if c > limit:  # the cap backward; the HR step-down, HR lost, the turnaround in any direction
        if _may_write(s, Rule.CORRECT_TARGET):
            why = f"machine target {_kmh(c)} > limit {_kmh(limit)}"
            s = _write(s, out, now, Rule.CORRECT_TARGET, why, limit, again=True)
            facts = Facts(speed_kmh=c / 100, limit_kmh=limit / 100)
            if s.cap_active:
                text = f"Target {_kmh(c)} refused, cap {_kmh(limit)}"
                out.alert(Level.WARNING, "target_over_cap", text, facts)
            else:
                text = f"Target {_kmh(c)} refused: heart rate limit {_kmh(limit)}"
                out.alert(Level.WARNING, "target_over_limit", text, facts)
        return s
    if own_echo(s, c):
        return s
    # Forward: somebody chose another speed on the console; follow them. Backward,
    # under the limit: not corrected, but it is what the belt is told now (the HR
    # step-down comes down from it, and a write of ours is not stale).
    return _told(s if s.cap_active else replace(s, requested_c=c), c, now)


def _on_stopped(s: GovernorState, e: MachineStopped, now: float, out: _Out) -> GovernorState:
    if e.kind is StopKind.STARTED:
        return replace(s, running=True, running_since=now)
    if e.kind is StopKind.SAFETY_KEY:
        out.alert(Level.DANGER, "safety_key", "Safety key pulled: the belt stopped.")
    return replace(s, running=False, commanded_c=None)


def _on_hr(s: GovernorState, e: HeartRateSample, now: float, out: _Out) -> GovernorState:
    if e.contact is False or e.bpm <= 0:
        return s
    lim = s.limits
    s = replace(s, hr=replace(s.hr, bpm=e.bpm, at=now))
    if s.hr.lost:
        out.alert(Level.INFO, "hr_back", "Heart rate is back.")
        s = replace(s, hr=replace(s.hr, lost=False))
    if e.bpm >= lim.hr_pause_bpm and s.running and s.controllable and _can(s, Trigger.HALT):
        why = f"HR {e.bpm} bpm >= {lim.hr_pause_bpm:.0f} bpm ({lim.hr_pause_pct:.0f} % HRmax)"
        out.decide(Rule.HR_PAUSE, why, Pause(), "pause the belt; halt until the runner confirms")
        out.alert(Level.DANGER, "hr_pause", f"Heart rate {e.bpm} bpm: paused. Confirm to go on.")
        return _enter(s, Trigger.HALT, running=False)
    if e.bpm > lim.hr_ceiling_bpm:
        if not s.running:
            return s  # a stopped belt cannot be slowed (nor told it is)
        if s.hr.step_at is None or now - s.hr.step_at >= lim.hr_step_interval_s:
            s = _hr_step_down(s, e.bpm, now, out)
    elif e.bpm < lim.hr_ceiling_bpm - HR_RELEASE_BPM and s.hr.limit_c is not None:
        why = f"HR {e.bpm} bpm back under the ceiling"
        s = replace(s, hr=replace(s.hr, limit_c=None, step_at=None))
        out.actions.append(Decision(Rule.HR_CEILING, why, "step-down released"))  # even if unseen
        s = _command(s, out, now, Rule.HR_CEILING, why)
    return s


def _hr_step_down(s: GovernorState, bpm: int, now: float, out: _Out) -> GovernorState:
    """One step below what the belt is actually told.

    Taken off the written target (or the machine's own, if the console set it
    lower), not the request: with a plan asking 9 km/h and the cap holding the
    belt at 6, the first step must write 5.5, not ask for 8.5.
    """
    lim = s.limits
    told = [c for c in (s.commanded_c, s.target_c, s.hr.limit_c) if c is not None]
    base = min(told) if told else (s.reported_c or 0)
    limit = max(base - centi(lim.hr_step_kmh), s.min_c, 0)
    s = replace(s, hr=replace(s.hr, limit_c=limit, step_at=now))
    out.alert(Level.WARNING, "hr_ceiling", f"Heart rate {bpm} bpm: slowing down.")
    why = f"HR {bpm} bpm > ceiling {lim.hr_ceiling_bpm:.0f} bpm"
    return _command(s, out, now, Rule.HR_CEILING, why, ramp=False)


def _on_segment(s: GovernorState, e: SegmentChange, now: float, out: _Out) -> GovernorState:
    if s.stopping:
        return s  # a segment after the wind-down: the wind-down has the last word
    target = _clamp_request(s, e.target_kmh)
    s = replace(s, segment=e.index)
    if e.incline_pct is not None:
        s = replace(s, incline_pct=e.incline_pct)
        if s.incline_supported:
            s = _incline(s, out, Rule.SEGMENT, f"segment {e.index}")
        elif not s.incline_noted:
            s = _note_no_incline(s, out)
    return _change_direction(s, e.direction, target, now, out, f"segment {e.index}")


def _on_effort(s: GovernorState, e: EffortTarget, now: float, out: _Out) -> GovernorState:
    """A heart-rate controller's request: the segment's speed, moved (capped like any other)."""
    if s.stopping or e.index != s.segment or s.phase is not Phase.RUNNING:
        return s  # the wind-down, another segment, or a turnaround has the last word
    s = replace(s, requested_c=_clamp_request(s, e.target_kmh))
    if e.incline_pct is not None and s.incline_supported:
        s = _incline(replace(s, incline_pct=e.incline_pct), out, Rule.SEGMENT, e.why)
    return _command(s, out, now, Rule.CAP if s.cap_active else Rule.SEGMENT, e.why)


def _note_no_incline(s: GovernorState, out: _Out) -> GovernorState:
    out.alert(
        Level.INFO, "incline_unsupported", "This treadmill has no incline control: incline ignored."
    )
    return replace(s, incline_noted=True)


def _change_direction(
    s: GovernorState, direction: Direction, target: int, now: float, out: _Out, why: str
) -> GovernorState:
    if s.turn.recovering and s.phase in (Phase.TURNING, Phase.DWELL):
        # Restarted mid-run: this is where the turnaround leads, once it is done.
        return replace(
            s, turn=replace(s.turn, pending_direction=direction, pending_target_c=target)
        )
    moving = (s.reported_c or 0) > 0 or (s.commanded_c or 0) > 0
    if direction is s.direction or not s.running or not moving or not _can(s, Trigger.TURN):
        s = replace(
            s, direction=direction, requested_c=target, turn=replace(s.turn, pending_direction=None)
        )
        if _can(s, Trigger.CALLED_OFF):
            s = _enter(s, Trigger.CALLED_OFF, turn=replace(s.turn, dwell_until=None))
        return _command(s, out, now, Rule.CAP if s.cap_active else Rule.SEGMENT, why)
    s = _enter(
        s,
        Trigger.TURN,
        turn=replace(s.turn, pending_direction=direction, pending_target_c=target, since=now),
    )
    out.alert(
        Level.INFO,
        "turnaround",
        f"Turning {direction.value}: slowing to {s.limits.turnaround_kmh} km/h",
        Facts(direction=direction.value, limit_kmh=s.limits.turnaround_kmh),
    )
    s = _command(
        s, out, now, Rule.TURNAROUND, f"{why}: {s.direction.value} -> {direction.value}", ramp=False
    )
    if (s.reported_c or 0) <= centi(s.limits.turnaround_kmh + s.limits.tolerance_kmh):
        s = _begin_dwell(s, now, out)
    return s


def _begin_dwell(s: GovernorState, now: float, out: _Out) -> GovernorState:
    seconds = math.ceil(s.limits.dwell_s)
    out.alert(Level.INFO, "countdown", f"Turn around in {seconds} s", Facts(seconds=seconds))
    return _enter(
        s,
        Trigger.SLOWED,
        turn=replace(s.turn, dwell_until=now + s.limits.dwell_s, dwell_announced=seconds),
    )


def _on_tick(s: GovernorState, e: Tick, now: float, out: _Out) -> GovernorState:
    lim = s.limits
    if s.phase is Phase.DWELL and s.turn.dwell_until is not None:
        left = math.ceil(s.turn.dwell_until - now)
        if left <= 0:
            direction = s.turn.pending_direction or s.direction
            out.alert(
                Level.INFO, "turned", f"Now {direction.value}.", Facts(direction=direction.value)
            )
            s = _enter(
                s,
                Trigger.TURNED,
                direction=direction,
                requested_c=s.turn.pending_target_c,
                turn=Turn(),
            )
        elif left != s.turn.dwell_announced:
            out.alert(Level.INFO, "countdown", f"Turn around in {left} s", Facts(seconds=left))
            s = replace(s, turn=replace(s.turn, dwell_announced=left))
    if (
        s.over_cap_since is not None
        and s.controllable  # watch mode: there is no control point to pause through
        and _can(s, Trigger.HALT)
        and now - s.over_cap_since >= lim.escalation_s
    ):
        return _escalate(s, out, f"belt above the cap for {now - s.over_cap_since:.1f} s")
    if (
        s.phase is Phase.TURNING
        and s.controllable  # watch mode: the runner slows by hand; the countdown still helps
        and s.turn.since is not None
        and now - s.turn.since >= TURN_TIMEOUT_S
    ):
        return _escalate(s, out, f"belt not slowed for the turnaround after {TURN_TIMEOUT_S:g} s")
    s = _check_hr_timeout(s, now, out)
    # A late tick means this process was not listening (a stalled loop, a busy
    # machine), not that the treadmill was silent: give data one more tick.
    stalled = s.data.last_tick_at is not None and now - s.data.last_tick_at > max(
        1.0, data_window_s(s) / 2
    )
    s = replace(s, data=replace(s.data, last_tick_at=now))
    if not stalled:
        s = _check_silence(s, now, out)
    if (
        not s.control.held
        and not s.stopping
        and s.controllable
        and s.control.retry_at is not None
        and now >= s.control.retry_at
    ):
        out.decide(Rule.CONTROL_LOST, "retrying control", RequestControl(), "request control")
        backoff = min(s.control.backoff_s * 2, lim.control_retry_max_s)
        s = replace(
            s, control=replace(s.control, retry_at=now + s.control.backoff_s, backoff_s=backoff)
        )
    if s.running:
        s = _command(s, out, now, Rule.RAMP, "towards the target")
    return s


def _check_silence(s: GovernorState, now: float, out: _Out) -> GovernorState:
    """No Treadmill Data while the belt should move: the cap is not verified any more."""
    if s.data.lost or not s.running or s.phase in (Phase.HALTED, Phase.STOPPED):
        return s
    last = s.data.last_record_at if s.data.last_record_at is not None else s.running_since
    window = data_window_s(s)
    if last is None or now - last <= window:
        return s
    why = f"no Treadmill Data for {now - last:.1f} s (window {window:.1f} s)"
    out.alert(
        Level.DANGER,
        "data_lost",
        f"No data from the treadmill for {now - last:.0f} s: the cap is NOT verified. "
        "Pausing and reconnecting.",
    )
    if s.control.held and s.controllable:
        out.decide(Rule.DATA_LOST, why, Pause(), "pause the belt")
    out.decide(Rule.DATA_LOST, why, Reconnect(), "reconnect to the treadmill")
    return replace(
        s,
        running=False,
        commanded_c=None,
        data=replace(s.data, lost=True),
        control=replace(s.control, held=False, retry_at=None),
    )


def _check_hr_timeout(s: GovernorState, now: float, out: _Out) -> GovernorState:
    lim = s.limits
    if not lim.hr_expected or s.hr.lost or not s.running or s.direction is not Direction.BACKWARD:
        return s
    last = s.hr.at if s.hr.at is not None else s.running_since
    if last is None or now - last < lim.hr_timeout_s:
        return s
    s = replace(s, hr=replace(s.hr, lost=True))
    out.alert(
        Level.WARNING,
        "hr_lost",
        f"No heart rate for {lim.hr_timeout_s:.0f} s: slowing to walking pace.",
    )
    return _command(s, out, now, Rule.HR_LOST, f"no HR since {now - last:.0f} s", ramp=False)


def _on_granted(s: GovernorState, e: ControlGranted, now: float, out: _Out) -> GovernorState:
    if not s.controllable:
        return s  # no control point to be granted: held implies controllable
    s = replace(
        s, commanded_c=None, control=replace(s.control, held=True, retry_at=None, backoff_s=1.0)
    )
    # Re-assert the cap before anything else, then the incline asked for meanwhile.
    s = _command(s, out, now, Rule.CONTROL_GRANTED, "control (re)granted", ramp=False)
    return _incline(s, out, Rule.CONTROL_GRANTED, "control (re)granted")


def _on_failed(s: GovernorState, e: CommandFailed, now: float, out: _Out) -> GovernorState:
    if not _loses_control(e):
        return _refused(s, e, out)
    return _on_lost(s, e, now, out)


def _on_lost(
    s: GovernorState, e: ControlLost | CommandFailed, now: float, out: _Out
) -> GovernorState:
    reason = e.reason
    what = f"{e.what}: " if isinstance(e, CommandFailed) else ""
    out.alert(
        Level.DANGER,
        "control_lost",
        f"Lost control of the treadmill ({what}{reason}); the cap is NOT held.",
    )
    out.actions.append(
        Decision(Rule.CONTROL_LOST, f"{what}{reason}", "request control with backoff")
    )
    retry = now if s.control.retry_at is None else s.control.retry_at
    return replace(
        s,
        commanded_c=None,
        incline_written=None,
        control=replace(s.control, held=False, retry_at=retry),
    )


_CAP_OPS = frozenset({"set_target_speed", "stop_or_pause"})


def _loses_control(e: CommandFailed) -> bool:
    """Not permitted, no answer, a dead link: control is gone. "Cannot" and "not now" are not.

    "Operation failed" on a speed or a pause still counts: the cap may not hold.
    """
    if e.failure in (Failure.UNSUPPORTED, Failure.INVALID):
        return False
    return e.failure is not Failure.FAILED or e.what in _CAP_OPS


def _refused(s: GovernorState, e: CommandFailed, out: _Out) -> GovernorState:
    out.actions.append(
        Decision(Rule.COMMAND_REFUSED, f"{e.what}: {e.reason}", "noted; control kept")
    )
    if e.what == "set_target_inclination" and e.failure is Failure.UNSUPPORTED:
        s = replace(s, incline_supported=False)
        return s if s.incline_noted else _note_no_incline(s, out)
    out.alert(Level.WARNING, "command_refused", f"The treadmill refused {e.what} ({e.reason}).")
    return s


def _on_shutdown(s: GovernorState, e: Shutdown, now: float, out: _Out) -> GovernorState:
    """SAFETY.md 11: slow a backward belt to the turnaround speed and pause, once."""
    if s.stopping:
        return s
    moving = s.running or (s.reported_c or 0) > 0

    def stopped(s: GovernorState) -> GovernorState:
        return _enter(s, Trigger.SHUTDOWN, running=False, control=replace(s.control, retry_at=None))

    if not moving:
        return stopped(s)
    if not (s.control.held and s.controllable):
        out.alert(
            Level.DANGER,
            "wind_down_no_control",
            f"Stopping ({e.reason}) without control of the treadmill: the belt is NOT slowed. "
            "Use the console or the safety key.",
        )
        return stopped(s)
    if s.cap_active:  # the last write, made before the phase forbids any
        turnaround = centi(s.limits.turnaround_kmh)
        s = _write(s, out, now, Rule.WIND_DOWN, e.reason, turnaround, again=True)
    out.decide(Rule.WIND_DOWN, e.reason, Pause(), "pause the belt")
    out.alert(Level.WARNING, "wind_down", f"The gateway is stopping ({e.reason}): belt paused.")
    return stopped(s)


# --- commands ------------------------------------------------------------------------


def _clamp_request(s: GovernorState, kmh: float) -> int:
    return min(max(centi(kmh), 0), s.max_c)


def _refuse(s: GovernorState, c: Command, out: _Out, rule: Rule, error: str) -> GovernorState:
    out.actions.append(CommandResult(c.id, False, error=error))
    out.actions.append(Decision(rule, f"{c.kind.value} from {c.source}", f"refused: {error}"))
    return s


def _number(value: float | str | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _admit(s: GovernorState, c: Command, now: float, out: _Out) -> tuple[GovernorState, bool]:
    """The one door every command passes, whatever it asks: the state, and whether it passed.

    The id is spent before any other check, so an id refused here (shutting
    down, retained, expired, too many) is never carried out later either: one
    id, one answer (SAFETY.md 15). Speed commands and the workout's alike.
    """
    s, replayed = _spend(s, c.id)
    if replayed is not None:
        _refuse(s, c, out, Rule.STALE_COMMAND, replayed)
        return s, False
    ttl = c.ttl_s if c.ttl_s is not None else s.limits.command_ttl_s
    recent = tuple(t for t in s.commands.times if now - t < RATE_WINDOW_S)
    error: tuple[Rule, str] | None = None
    if s.stopping:
        error = Rule.WIND_DOWN, "the gateway is shutting down"
    elif not s.controllable and c.kind in WRITING_COMMANDS:
        error = Rule.BAD_COMMAND, "watch mode: this treadmill takes no commands"
    elif c.retained:
        error = Rule.STALE_COMMAND, "retained commands are ignored"
    elif c.issued_at is not None and now - c.issued_at > ttl:
        error = Rule.STALE_COMMAND, f"expired {now - c.issued_at - ttl:.1f} s ago"
    elif c.source != "plan" and len(recent) >= RATE_MAX:
        error = Rule.RATE_LIMITED, f"more than {RATE_MAX} commands in {RATE_WINDOW_S:g} s"
    if error is not None:
        _refuse(s, c, out, *error)
        return s, False
    if c.source != "plan":
        s = replace(s, commands=replace(s.commands, times=(*recent, now)))
    return s, True


def _spend(s: GovernorState, command_id: str) -> tuple[GovernorState, str | None]:
    """Remember an id (the last SEEN_IDS); the refusal if it was already handled."""
    if command_id in s.commands.seen_ids:
        return s, f"command {command_id!r} was already handled"
    seen = (*s.commands.seen_ids[-(SEEN_IDS - 1) :], command_id)
    return replace(s, commands=replace(s.commands, seen_ids=seen)), None


def _on_refused(s: GovernorState, e: RefusedCommand, now: float, out: _Out) -> GovernorState:
    """A command the contract refused: its id is spent like any other's."""
    s, replayed = _spend(s, e.id)
    error = replayed or e.error
    rule = Rule.STALE_COMMAND if replayed or e.stale else Rule.BAD_COMMAND
    out.actions.append(CommandResult(e.id, False, error=error, source=e.source))
    out.actions.append(Decision(rule, f"command from {e.source}", f"refused: {error}"))
    return s


def _to_engine(s: GovernorState, c: Command, now: float, out: _Out) -> GovernorState:
    """The workout's commands: admitted here, carried out by the engine."""
    out.actions.append(ToEngine(c))
    out.actions.append(Decision(Rule.COMMAND, f"{c.kind.value} from {c.source}", "to the engine"))
    return s


def _cmd_speed(s: GovernorState, c: Command, now: float, out: _Out) -> GovernorState:
    value = _number(c.value)
    if value is None or not 0 <= value <= s.max_c / 100:
        return _refuse(
            s, c, out, Rule.BAD_COMMAND, f"speed must be a number from 0 to {s.max_c / 100:g} km/h"
        )
    if s.phase is Phase.HALTED:
        return _refuse(s, c, out, Rule.ESCALATE, "halted after a safety stop: confirm first")
    if value == 0:  # no treadmill takes 0 as a target: what a person means is "stop the belt"
        return _cmd_run(s, dataclasses.replace(c, kind=CommandKind.PAUSE), now, out)
    s = replace(s, requested_c=_clamp_request(s, value))
    s = _command(
        s,
        out,
        now,
        Rule.CAP if s.cap_active else Rule.COMMAND,
        f"set_speed {value} from {c.source}",
    )
    goal = _goal_c(s, now)
    note = f" (capped at {_kmh(goal)})" if goal < centi(value) else ""
    out.actions.append(CommandResult(c.id, True, applied=f"target {_kmh(goal)}{note}"))
    return s


def _cmd_incline(s: GovernorState, c: Command, now: float, out: _Out) -> GovernorState:
    value = _number(c.value)
    if value is None or not -10 <= value <= 40:
        return _refuse(s, c, out, Rule.BAD_COMMAND, "incline must be a number from -10 to 40 %")
    if not s.incline_supported:
        return _refuse(s, c, out, Rule.BAD_COMMAND, "this treadmill has no incline control")
    s = _incline(replace(s, incline_pct=value), out, Rule.COMMAND, f"set_incline from {c.source}")
    later = "" if s.incline_written == value else " (when control is back)"
    out.actions.append(CommandResult(c.id, True, applied=f"incline {value} %{later}"))
    return s


def _cmd_run(s: GovernorState, c: Command, now: float, out: _Out) -> GovernorState:
    if c.kind is CommandKind.START:
        if s.phase is Phase.HALTED:
            return _refuse(s, c, out, Rule.ESCALATE, "halted after a safety stop: confirm first")
        if s.running:  # Start while started is "operation failed" on the machine
            out.actions.append(CommandResult(c.id, True, applied="already running"))
            return s
        out.decide(Rule.COMMAND, f"start from {c.source}", Start(), "start")
        out.actions.append(CommandResult(c.id, True, applied="start"))
        return replace(s, running=True, running_since=now, commanded_c=None)
    action: Action = Pause() if c.kind is CommandKind.PAUSE else Stop()
    out.decide(Rule.COMMAND, f"{c.kind.value} from {c.source}", action, c.kind.value)
    out.actions.append(CommandResult(c.id, True, applied=c.kind.value))
    return replace(s, running=False, commanded_c=None)


def _cmd_direction(s: GovernorState, c: Command, now: float, out: _Out) -> GovernorState:
    if c.value not in ("forward", "backward"):
        return _refuse(s, c, out, Rule.BAD_COMMAND, "direction must be 'forward' or 'backward'")
    direction = Direction(c.value)
    s = _change_direction(s, direction, s.requested_c, now, out, f"set_direction from {c.source}")
    out.actions.append(CommandResult(c.id, True, applied=f"direction {direction.value}"))
    return s


def _cmd_cap(s: GovernorState, c: Command, now: float, out: _Out) -> GovernorState:
    value = _number(c.value)
    configured = s.limits.backward_cap_kmh
    highest = HARD_CEILING_KMH if s.limits.allow_raising_cap else configured
    lowest = max(s.min_c, 1) / 100  # a cap below the slowest belt speed means nothing
    if value is None or not lowest <= value <= highest:
        return _refuse(
            s, c, out, Rule.BAD_COMMAND, f"cap must be a number from {lowest:g} to {highest:g} km/h"
        )
    s = replace(s, cap_c=centi(value))
    s = _command(s, out, now, Rule.CAP, f"set_cap {value} from {c.source}", ramp=False)
    out.actions.append(CommandResult(c.id, True, applied=f"backward cap {value:.2f} km/h"))
    return s


def _cmd_confirm(s: GovernorState, c: Command, now: float, out: _Out) -> GovernorState:
    if s.phase is not Phase.HALTED:
        out.actions.append(CommandResult(c.id, True, applied="nothing to confirm"))
        return s
    out.actions.append(Decision(Rule.ESCALATE, f"confirm from {c.source}", "halt lifted"))
    out.actions.append(CommandResult(c.id, True, applied="halt lifted; press start to go on"))
    return _enter(
        s, Trigger.CONFIRM, over_cap_since=None, hr=replace(s.hr, limit_c=None, step_at=None)
    )


# Commands that write to the control point (refused in watch mode: there is none).
WRITING_COMMANDS = frozenset(
    {
        CommandKind.SET_SPEED,
        CommandKind.SET_INCLINE,
        CommandKind.START,
        CommandKind.PAUSE,
        CommandKind.STOP,
    }
)
ENGINE_COMMANDS = frozenset(
    {CommandKind.NEXT_SEGMENT, CommandKind.LOAD_PLAN, CommandKind.SET_HR_TARGET}
)


def _features(s: GovernorState, e: MachineFeatures, now: float, out: _Out) -> GovernorState:
    s = replace(s, incline_supported=e.incline, controllable=e.control)
    if not e.control:  # watch mode: nothing is held, nothing is asked for
        s = replace(s, commanded_c=None, control=Control())
    return s


def _speed_range(s: GovernorState, e: SpeedRangeReported, now: float, out: _Out) -> GovernorState:
    return replace(
        s, min_c=centi(e.min_kmh), max_c=centi(e.max_kmh), step_c=max(1, centi(e.step_kmh))
    )


Handler = Callable[[GovernorState, Any, float, _Out], GovernorState]
# The one dispatch: an event by its type, a command (once admitted) by its kind.
HANDLERS: dict[type | CommandKind, Handler] = {
    TreadmillRecord: _on_record,
    TargetReported: _on_target,
    HeartRateSample: _on_hr,
    Tick: _on_tick,
    BeltLastSeen: _on_last_seen,
    RefusedCommand: _on_refused,
    SegmentChange: _on_segment,
    EffortTarget: _on_effort,
    MachineStopped: _on_stopped,
    Shutdown: _on_shutdown,
    MachineFeatures: _features,
    SpeedRangeReported: _speed_range,
    ControlGranted: _on_granted,
    ControlLost: _on_lost,
    CommandFailed: _on_failed,
    CommandKind.SET_SPEED: _cmd_speed,
    CommandKind.SET_INCLINE: _cmd_incline,
    CommandKind.START: _cmd_run,
    CommandKind.PAUSE: _cmd_run,
    CommandKind.STOP: _cmd_run,
    CommandKind.SET_DIRECTION: _cmd_direction,
    CommandKind.SET_CAP: _cmd_cap,
    CommandKind.CONFIRM: _cmd_confirm,
    **dict.fromkeys(ENGINE_COMMANDS, _to_engine),
}


def step(state: GovernorState, event: Event, now: float) -> tuple[GovernorState, list[Action]]:
    """Feed one event; the new state and what to do about it.

    A command passes the admission first (``_admit``: the one door), then its
    kind's handler. An event with no handler raises: it is a bug to be found in
    tests, not something to be taken for a lost treadmill.
    """
    out = _Out()
    key: type | CommandKind = event.kind if isinstance(event, Command) else type(event)
    handler = HANDLERS.get(key)
    if handler is None:
        raise TypeError(f"the governor has no handler for {event!r}")
    if isinstance(event, Command):
        state, admitted = _admit(state, event, now, out)
        if admitted:
            state = handler(state, event, now, out)
        out.actions = [
            dataclasses.replace(a, source=event.source) if isinstance(a, CommandResult) else a
            for a in out.actions
        ]
    else:
        state = handler(state, event, now, out)
    return state, out.actions
