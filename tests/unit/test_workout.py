"""Plan files, builtin plans and the engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.safety.direction import Direction
from gateway.workout.engine import WorkoutEngine
from gateway.workout.hrcontrol import (
    Bounds,
    Effort,
    HrController,
    HrRange,
    split,
)
from gateway.workout.plan import (
    Plan,
    PlanError,
    Segment,
    builtin_plans,
    load_plan_file,
    parse_plan,
    plan_by_name,
    resolve_plan,
)

GOOD = """
name = "test"
[[segments]]
direction = "forward"
speed_kmh = 5.0
duration_s = 60
[[segments]]
direction = "backward"
speed_kmh = 4.0
distance_m = 50
incline_pct = 1.0
"""


def test_builtin_plans_follow_the_practice() -> None:
    plans = builtin_plans()
    assert list(plans) == ["intro-backward-walk", "backward-walk-intervals", "retro-run-intervals"]
    for name, plan in plans.items():
        warm_up = plan.segments[0]
        assert warm_up.direction is Direction.FORWARD, name
        assert warm_up.duration_s == 600, name  # 10-minute warm-up
        assert plan.warnings(backward_cap_kmh=6.0, backward_limit_m=100) == [], name
        backward = [s for s in plan.segments if s.direction is Direction.BACKWARD]
        assert backward
        assert all(s.expected_distance_m <= 100 for s in backward), name
    retro = [
        s.expected_distance_m
        for s in plans["retro-run-intervals"].segments
        if s.direction is Direction.BACKWARD
    ]
    assert retro == sorted(retro)  # gradual progression
    assert retro[0] == 50
    assert retro[-1] == 100


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("speed_kmh = 4.0", "speed_kmh = 40"),
            "segments[1].speed_kmh: Input should be less than or equal to 20",
        ),
        (
            GOOD.replace('"backward"', '"sideways"'),
            "segments[1].direction: Input should be 'forward' or 'backward'",
        ),
        (
            GOOD.replace("distance_m = 50", "distance_m = 50\nduration_s = 3"),
            "segments[1]: Value error, give exactly one",
        ),
        (
            GOOD.replace("incline_pct", "incline"),
            "segments[1].incline: Extra inputs are not permitted",
        ),
        ('name = "x"\nsegments = []', "segments: Tuple should have at least 1 item"),
        ("name = ", "not valid TOML"),
    ],
)
def test_bad_plans_name_the_segment_and_field(text: str, message: str) -> None:
    with pytest.raises(PlanError) as exc:
        parse_plan(text, "my.toml")
    assert str(exc.value).startswith("my.toml: ")
    assert message in str(exc.value)


def test_risky_plans_warn() -> None:
    plan = parse_plan(
        GOOD.replace("distance_m = 50", "distance_m = 400").replace(
            "speed_kmh = 4.0", "speed_kmh = 9.0"
        ),
        "x",
    )
    warnings = plan.warnings(backward_cap_kmh=6.0, backward_limit_m=100)
    assert "segments[1]: backward for 400 m, longer than the 100 m recommended" in warnings
    assert "segments[1]: 9.0 km/h backward will be capped at 6.0 km/h" in warnings
    assert "segments[1]: speed jumps from 5.0 to 9.0 km/h" in warnings


def test_a_heart_rate_range_near_the_ceiling_is_warned_about() -> None:
    """Issue 23: a range reaching within a few beats of the ceiling makes the ceiling's
    step-down cut in again and again; the runner is told before the start."""
    segment = Segment(
        direction=Direction.BACKWARD, speed_kmh=4.0, duration_s=300, hr_bpm=(160, 170)
    )
    warm_up = Segment(direction=Direction.FORWARD, speed_kmh=5.0, duration_s=600)
    plan = Plan(name="near", segments=(warm_up, segment))
    near = plan.warnings(4.0, 400, age=20, hr_ceiling_bpm=174.6)
    assert near == [
        "segments[1]: heart rate 160-170 bpm is within 5 bpm of your ceiling (175 bpm): the "
        "ceiling will slow the belt in it; a range a few beats lower holds better"
    ]
    assert plan.warnings(4.0, 400, age=20, hr_ceiling_bpm=180.0) == []
    assert plan.warnings(4.0, 400) == [], "no ceiling given, nothing to say"


def test_resolve_by_name_or_file(tmp_path: Path) -> None:
    assert resolve_plan("intro-backward-walk").level == 1
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    assert resolve_plan(str(path)).name == "test"
    with pytest.raises(PlanError, match="no builtin plan 'nope'"):
        resolve_plan("nope")


def test_engine_advances_by_time_only_while_moving_and_by_distance() -> None:
    engine = WorkoutEngine(parse_plan(GOOD, "x"))
    first = engine.start(0.0, 1000.0)
    assert (first.index, first.direction, first.target_kmh) == (0, Direction.FORWARD, 5.0)
    assert engine.on_record(30.0, 1040.0, moving=True) is None
    assert engine.on_record(90.0, 1040.0, moving=False) is None  # paused: time does not count
    second = engine.on_record(121.0, 1080.0, moving=True)
    assert second is not None
    assert (second.index, second.direction, second.incline_pct) == (1, Direction.BACKWARD, 1.0)
    progress = engine.progress()
    assert progress is not None
    assert progress.left_m == 50
    assert engine.on_record(130.0, 1120.0, moving=True) is None
    assert engine.on_record(140.0, 1130.0, moving=True) is None  # the plan is over
    assert engine.finished
    assert engine.segment is None


def test_engine_skip_and_counter_reset() -> None:
    engine = WorkoutEngine(parse_plan(GOOD, "x"))
    engine.start(0.0, 500.0)
    change = engine.skip()
    assert change is not None
    assert change.index == 1
    assert engine.on_record(1.0, 10.0, moving=True) is None  # machine counter went back to 10 m
    assert engine.on_record(2.0, 55.0, moving=True) is None
    assert engine.progress() is not None
    assert engine.on_record(3.0, 61.0, moving=True) is None
    assert engine.finished


def test_plan_totals() -> None:
    plan = Plan.model_validate(
        {"name": "t", "segments": [{"direction": "forward", "speed_kmh": 3.6, "distance_m": 100}]}
    )
    assert plan.total_s == pytest.approx(100)


def test_a_plan_speed_of_true_is_refused() -> None:
    text = '[[segments]]\ndirection = "backward"\nspeed_kmh = true\nduration_s = 60\n'
    with pytest.raises(PlanError, match=r"speed_kmh: .*not true/false"):
        parse_plan(f'name = "x"\n{text}', "x.toml")


def test_a_plan_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(b'name = "r\xe9tro"\n')
    with pytest.raises(PlanError, match=r"p\.toml: not UTF-8"):
        load_plan_file(path)


@pytest.mark.parametrize("name", ["/dev/zero", "plan\x00.toml", "../x", "a/b", ""])
def test_a_command_names_a_plan_never_a_path(name: str, tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="letters, digits"):
        plan_by_name(name, tmp_path)


def test_plans_by_name_from_the_folder_are_size_limited(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(
        'name = "mine"\n[[segments]]\ndirection = "forward"\nspeed_kmh = 3\nduration_s = 60\n'
    )
    assert plan_by_name("mine", tmp_path).name == "mine"
    assert plan_by_name("intro-backward-walk", tmp_path).segments
    (tmp_path / "big.toml").write_text("#" * 70_000)
    with pytest.raises(PlanError, match="at most 64 KiB"):
        plan_by_name("big", tmp_path)


# --- heart-rate segments: the controller (pure) -----------------------------------------


@given(
    heart=st.lists(st.none() | st.floats(40, 220), min_size=1, max_size=80),
    max_kmh=st.floats(0.5, 16),
    max_incline=st.sampled_from([0.0, 5.0, 15.0]),
    backward=st.booleans(),
    start=st.floats(1.0, 8.0),
    dt=st.floats(0.5, 10),
)
def test_no_controller_output_exceeds_what_it_is_allowed(
    heart: list[float | None],
    max_kmh: float,
    max_incline: float,
    backward: bool,
    start: float,
    dt: float,
) -> None:
    c = HrController(HrRange(120, 130), Effort(start))
    bounds = Bounds(1.0, max_kmh, max_incline, backward)
    for n, bpm in enumerate(heart):
        out = c.update(n * dt, bpm, bounds)
        assert out.speed_kmh <= max(1.0, max_kmh) + 1e-9
        assert out.speed_kmh >= 1.0 - 1e-9
        assert 0.0 <= out.incline_pct <= max_incline + 1e-9
        if bpm is None:
            assert out.incline_pct == 0.0 and out.speed_kmh <= start + 1e-9  # noqa: PT018


def test_backward_the_incline_goes_up_before_the_speed() -> None:
    b = Bounds(1.0, 6.0, 10.0, backward=True)
    assert split(3.0 + 0.18 * 3.0 * 4, 3.0, b) == Effort(3.0, 4.0)  # 4 % of incline, same belt
    effort = 3.0 + 0.18 * 3.0 * 10 + 1.0
    more = split(effort, 3.0, b)
    assert more.incline_pct == 10.0
    assert more.speed_kmh > 3.0  # the incline is full: then the belt, by what is left
    assert more.total == pytest.approx(effort), "what is asked is what the split gives"
    assert split(20.0, 3.0, b).speed_kmh == 6.0  # never above the ceiling it was handed


def test_forward_the_speed_goes_up_before_the_incline() -> None:
    b = Bounds(1.0, 6.0, 10.0, backward=False)
    assert split(5.0, 4.0, b) == Effort(5.0, 0.0)
    up = split(6.0 + 0.18 * 6.0 * 2, 4.0, b)
    assert up.speed_kmh == 6.0
    assert up.incline_pct == pytest.approx(2.0)


def test_saturated_the_controller_does_not_wind_up() -> None:
    """Capped for ten minutes far below the range: the moment the heart rate is over
    the range, the effort comes down at once, not after unwinding ten minutes of error."""
    c = HrController(HrRange(150, 160), Effort(3.0))
    capped = Bounds(1.0, 4.0, 0.0, backward=True)
    for t in range(0, 600, 2):
        c.update(float(t), 110.0, capped)
    assert c.output == Effort(4.0, 0.0)
    down = c.update(602.0, 175.0, capped)
    assert down.speed_kmh < 4.0


def test_zones_are_percent_of_hr_max() -> None:
    assert HrRange.of_zone(3, age=40) == HrRange(126, 144)  # 70-80 % of 180
    assert HrRange(120, 130).holds(125) and not HrRange(120, 130).holds(131)  # noqa: PT018


def test_a_step_down_is_the_controllers_saturation_and_nothing_rises_against_it() -> None:
    """Defect (issue 23): the governor's heart-rate step-down cut the belt, and the
    controller made up for it with incline, then put the speed back to the cap as soon
    as it could: a limit cycle against the ceiling."""
    c = HrController(HrRange(160, 170), Effort(4.0, 10.0))
    b = Bounds(1.0, 4.0, 15.0, backward=True)
    for t in range(0, 60, 2):
        c.update(float(t), 150.0, b)  # below the range: the effort goes up
    before = c.output
    assert before is not None
    written = Effort(3.5, before.incline_pct)  # the step-down wrote 0.5 km/h less
    stepped = Bounds(1.0, 3.5, 15.0, backward=True)
    for t in range(60, 120, 2):
        out = c.update(float(t), 150.0, stepped, written)
        assert out.speed_kmh <= written.speed_kmh + 1e-9
        assert out.incline_pct <= written.incline_pct + 1e-9, "incline made up for the speed"
        assert out.total <= written.total + 1e-9
        written = out
    released = c.update(122.0, 150.0, b)
    assert released.speed_kmh < 3.6, "not back to the cap the moment the step-down ends"
    assert released.total <= written.total + 0.1 * 2 + 1e-9, "only at the slew rate"
