"""The workout's lifecycle without the station core (issue 24): a view in, events out."""

from __future__ import annotations

from gateway.safety import SafetyLimits, initial_state
from gateway.safety.actions import Alert, CommandResult
from gateway.safety.direction import Direction
from gateway.safety.events import Command, CommandKind, EffortTarget, SegmentChange
from gateway.safety.governor import Phase, View, view
from gateway.workout.plan import Plan, Segment
from gateway.workout.session import Note, Out, WorkoutSession

FWD, BWD = Direction.FORWARD, Direction.BACKWARD
PLAN = Plan(
    name="two",
    segments=(
        Segment(direction=FWD, speed_kmh=5.0, duration_s=60),
        Segment(direction=BWD, speed_kmh=9.0, distance_m=50),
    ),
)
LIMITS = SafetyLimits(backward_cap_kmh=6.0, age=40)


def ready(**changes: object) -> View:
    """Control held, the belt seen standing: a plan may start."""
    base: dict[str, object] = {"control_held": True, "belt_seen": True, "reported_kmh": 0.0}
    return view(initial_state(LIMITS), 0.0)._replace(**{**base, **changes})  # type: ignore[arg-type]


def kinds(out: list[Out]) -> list[str]:
    return [item.kind.value if isinstance(item, Command) else type(item).__name__ for item in out]


def test_the_plan_waits_for_control_and_a_record() -> None:
    session = WorkoutSession(LIMITS, PLAN)
    assert session.begin(ready(control_held=False), 1.0) == []
    assert session.begin(ready(belt_seen=False), 1.0) == []
    out = session.begin(ready(), 1.0)
    assert SegmentChange(0, FWD, 5.0, None) in out
    assert kinds(out)[-1] == "start"  # the segment's speed first, then the start
    assert session.begin(ready(), 2.0) == []  # once


def test_a_plan_never_starts_during_the_wind_down() -> None:
    session = WorkoutSession(LIMITS, PLAN)
    assert session.begin(ready(phase=Phase.STOPPED), 1.0) == []
    assert session.waiting


def test_a_backward_segment_over_the_cap_is_warned_about_at_the_start() -> None:
    out = WorkoutSession(LIMITS, PLAN).begin(ready(), 1.0)
    warnings = [a for a in out if isinstance(a, Alert) and a.code == "plan_warning"]
    assert warnings, out
    assert any("will be capped at 6" in w.message for w in warnings)


def test_the_segments_follow_the_records_and_the_plan_ends_once() -> None:
    session = WorkoutSession(LIMITS, PLAN)
    session.begin(ready(), 0.0)
    assert session.on_record(30.0, 100, moving=True) == []
    (change,) = session.on_record(61.0, 150, moving=True)
    assert change == SegmentChange(1, BWD, 9.0, None)
    out = session.on_record(90.0, 201, moving=True)
    assert kinds(out) == ["Alert", "stop"]
    assert not session.waiting  # a finished plan stays finished
    assert session.on_record(91.0, 205, moving=True) == []
    assert session.begin(ready(), 92.0) == []


def test_time_counts_only_while_the_belt_moves() -> None:
    session = WorkoutSession(LIMITS, PLAN)
    session.begin(ready(), 0.0)
    assert session.on_record(70.0, 0, moving=False) == []


def test_next_segment_skips_and_after_the_last_ends_the_plan() -> None:
    session = WorkoutSession(LIMITS, PLAN)
    skip = Command("n1", CommandKind.NEXT_SEGMENT)
    (refused,) = session.command(skip, ready(), 0.0)
    assert isinstance(refused, CommandResult)
    assert not refused.ok
    session.begin(ready(), 0.0)
    out = session.command(Command("n2", CommandKind.NEXT_SEGMENT), ready(), 1.0)
    assert out[0] == SegmentChange(1, BWD, 9.0, None)
    out = session.command(Command("n3", CommandKind.NEXT_SEGMENT), ready(), 2.0)
    assert kinds(out) == ["CommandResult", "Alert", "stop"]


def test_a_restarted_session_resumes_at_its_segment() -> None:
    session = WorkoutSession(LIMITS, PLAN)
    session.resume_segment = 1
    out = session.begin(ready(), 0.0)
    assert SegmentChange(1, BWD, 9.0, None) in out
    assert any(isinstance(n, Note) and "segment 2" in n.text for n in out)


def test_loading_a_plan_starts_it_from_the_top() -> None:
    session = WorkoutSession(LIMITS, PLAN)
    session.resume_segment = 1
    other = Plan(name="one", segments=(Segment(direction=FWD, speed_kmh=4.0, duration_s=30),))
    out = session.load(Command("l1", CommandKind.LOAD_PLAN, "one"), other, ready(), 0.0)
    assert SegmentChange(0, FWD, 4.0, None) in out
    assert isinstance(out[-1], CommandResult)
    assert out[-1].ok
    assert session.plan is other


def test_a_free_heart_rate_target_is_refused_while_a_plan_runs_and_ends_with_a_hand() -> None:
    session = WorkoutSession(LIMITS, PLAN)
    session.begin(ready(), 0.0)
    (refused,) = session.command(Command("h1", CommandKind.SET_HR_TARGET, "zone 2"), ready(), 1.0)
    assert isinstance(refused, CommandResult)
    assert not refused.ok

    free = WorkoutSession(LIMITS)
    (ok,) = free.command(Command("h2", CommandKind.SET_HR_TARGET, "120-130"), ready(), 1.0)
    assert isinstance(ok, CommandResult)
    assert ok.ok
    assert free.hr.free_mode
    (said,) = free.speed_set_by_hand()
    assert isinstance(said, Alert)
    assert said.code == "hr_target_off"
    assert free.speed_set_by_hand() == []  # once


def test_a_heart_rate_segment_asks_the_governor_for_an_effort_under_its_ceiling() -> None:
    hr_plan = Plan(
        name="hr",
        segments=(
            Segment(
                direction=BWD,
                speed_kmh=4.0,
                duration_s=600,
                hr_bpm=(120, 130),
            ),
        ),
    )
    session = WorkoutSession(LIMITS, hr_plan)
    (change,) = [e for e in session.begin(ready(), 0.0) if isinstance(e, SegmentChange)]
    session.segment_began(change)
    running = ready(running=True, segment=0, direction=BWD, ceiling_kmh=6.0, hr_bpm=100)
    (effort,) = session.tick(running, 10.0)
    assert isinstance(effort, EffortTarget)
    assert effort.target_kmh <= 6.0
    assert session.tick(running, 10.5) == []  # not more often than its interval
    turning = running._replace(phase=Phase.TURNING)
    assert session.tick(turning, 20.0) == []  # the turnaround has the last word


def test_while_a_plan_runs_an_apps_speed_and_incline_are_refused_not_its_pause() -> None:
    """The bridge's ownership rule (docs/bridge.md): the plan owns the speed."""
    session = WorkoutSession(LIMITS, PLAN)
    speed = Command("a1", CommandKind.SET_SPEED, 9.0, source="app")
    assert session.refuses(speed) is None  # free mode (the plan has not started)
    session.begin(ready(), 0.0)
    assert "plan is running" in (session.refuses(speed) or "")
    assert session.refuses(Command("a2", CommandKind.SET_INCLINE, 3.0, source="app"))
    assert session.refuses(Command("a3", CommandKind.PAUSE, source="app")) is None
    assert session.refuses(Command("m1", CommandKind.SET_SPEED, 5.0, source="mqtt")) is None
