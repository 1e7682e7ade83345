"""Zwift .zwo run workouts as plans (issue 27): pure, no I/O beyond reading the samples."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.safety.direction import Direction
from gateway.workout.plan import PlanError, parse_plan, plan_to_toml
from gateway.workout.zwo import RAMP_PIECES_MAX, plan_from_zwo

SAMPLES = Path(__file__).resolve().parents[1] / "workouts"
THRESHOLD = 12.0  # km/h: a 5:00 /km threshold pace
BWD, FWD = Direction.BACKWARD, Direction.FORWARD


def zwo(steps: str, *, head: str = "<sportType>run</sportType>") -> str:
    return f"<workout_file><name>t</name>{head}<workout>{steps}</workout></workout_file>"


def test_steady_steps_are_speeds_from_the_threshold_and_backward_only_when_said() -> None:
    plan = plan_from_zwo((SAMPLES / "retro-steady.zwo").read_bytes(), "retro-steady.zwo", 12.0)
    assert plan.name == "Retro steady"
    directions = [s.direction for s in plan.segments]
    # warm-up (5 pieces of a minute), then backward by textevent, attribute and "retro"
    assert directions[:5] == [FWD] * 5
    assert directions[5:10] == [BWD, FWD, BWD, FWD, BWD]
    assert {s.speed_kmh for s in plan.segments[5:10]} == {5.4}  # 0.45 x 12
    assert plan.segments[5].note.startswith("Backward walk")
    assert sum(s.duration_s or 0 for s in plan.segments) == 300 + 40 + 60 + 40 + 60 + 40 + 120
    # a ramp becomes steps at its mid-speeds, rising
    warm = [s.speed_kmh for s in plan.segments[:5]]
    assert warm == sorted(warm)
    assert warm[0] == pytest.approx(12 * 0.41, abs=0.05)
    assert warm[-1] == pytest.approx(12 * 0.49, abs=0.05)


def test_intervals_repeat_with_the_text_events_of_their_on_and_off_parts() -> None:
    plan = plan_from_zwo((SAMPLES / "retro-intervals.zwo").read_bytes(), "i.zwo", THRESHOLD)
    reps = plan.segments[6:14]  # after the warm-up's six minutes
    assert [s.direction for s in reps] == [BWD, FWD] * 4
    assert [s.speed_kmh for s in reps[:2]] == [4.8, 6.0]
    assert reps[0].note == "1/4 Turn around: backward"
    assert reps[1].note == "Forward, easy"


def test_a_distance_workout_has_metres_and_the_on_direction() -> None:
    plan = plan_from_zwo((SAMPLES / "distance-builder.zwo").read_bytes(), "d.zwo", THRESHOLD)
    assert all(s.duration_s is None for s in plan.segments)
    backward = [s for s in plan.segments if s.direction is BWD]
    assert [s.distance_m for s in backward] == [50, 60, 60]
    assert sum(s.distance_m or 0 for s in plan.segments) == 800 + 50 + 400 + 2 * 260 + 400


def test_an_imported_plan_is_checked_like_any_plan() -> None:
    text = zwo('<SteadyState Duration="60" Power="0.6" direction="backward"/>')
    plan = plan_from_zwo(text, "fast.zwo", THRESHOLD)
    warnings = plan.warnings(6.0, 100.0)
    assert any("will be capped at 6.0" in w for w in warnings)  # 7.2 km/h backward
    assert any("longer than the 100 m recommended" in w for w in warnings)  # 120 m
    assert any("warm up forward" in w for w in warnings)
    assert parse_plan(plan_to_toml(plan), "round trip") == plan  # saved as a plan file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<workout", "bad.zwo: not a workout file (XML error: "),
        ("<plan/>", "bad.zwo: <plan>: expected a <workout_file> (a Zwift .zwo)"),
        (
            zwo("", head="<sportType>bike</sportType>"),
            "bad.zwo: sportType: expected run, got 'bike'",
        ),
        (zwo(""), "bad.zwo: <workout>: missing or empty (expected its steps)"),
        (
            zwo('<SteadyState Duration="60" Power="0.5"/><SteadyState Duration="x" Power="1"/>'),
            "bad.zwo: workout/SteadyState[2]: Duration: expected a number, got 'x'",
        ),
        (
            zwo('<SteadyState Duration="60"/>'),
            "bad.zwo: workout/SteadyState[1]: Power: missing (expected a number)",
        ),
        (
            zwo('<SteadyState Duration="60" Power="2"/>'),
            "bad.zwo: workout/SteadyState[1]: Power: 2 x your threshold 12.0 km/h is 24 km/h "
            "(expected above 0 and at most 20 km/h)",
        ),
        (
            zwo('<FreeRide Duration="600"/>'),
            "bad.zwo: workout/FreeRide[1]: has no pace: retrogate needs a speed for the belt",
        ),
        (
            zwo('<Sprint Duration="60"/>'),
            "bad.zwo: workout/Sprint[1]: unknown step (expected one of Warmup, ",
        ),
        (
            zwo('<SteadyState Duration="60" Power="0.5" direction="sideways"/>'),
            "bad.zwo: workout/SteadyState[1]: direction: expected backward or forward, "
            "got 'sideways'",
        ),
        (
            zwo(
                '<IntervalsT Repeat="2.5" OnDuration="1" OffDuration="1" OnPower="1" OffPower="1"/>'
            ),
            "bad.zwo: workout/IntervalsT[1]: Repeat: expected a whole number of at most 100",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_the_element_and_what_was_expected(
    text: str, message: str
) -> None:
    with pytest.raises(PlanError) as caught:
        plan_from_zwo(text, "bad.zwo", THRESHOLD)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_without_a_threshold_pace_it_says_where_to_set_it() -> None:
    with pytest.raises(PlanError, match=r'\[runner\] threshold_pace = "5:00"'):
        plan_from_zwo(zwo('<SteadyState Duration="60" Power="0.5"/>'), "x.zwo", None)


SHARE = st.floats(0.05, 1.6).map(lambda x: round(x, 3))  # as the file writes it
STEADY = st.builds(
    lambda d, p: (f'<SteadyState Duration="{d}" Power="{p:.3f}"/>', d, 1, [p]),
    st.integers(1, 3600),
    SHARE,
)
RAMP = st.builds(
    lambda kind, d, lo, hi: (
        f'<{kind} Duration="{d}" PowerLow="{lo:.3f}" PowerHigh="{hi:.3f}"/>',
        d,
        None,
        [lo, hi],
    ),
    st.sampled_from(["Warmup", "Ramp", "Cooldown"]),
    st.integers(1, 3600),
    SHARE,
    SHARE,
)
INTERVALS = st.builds(
    lambda r, on, off, p, q: (
        f'<IntervalsT Repeat="{r}" OnDuration="{on}" OffDuration="{off}" OnPower="{p:.3f}" '
        f'OffPower="{q:.3f}"/>',
        r * (on + off),
        2 * r,
        [p, q],
    ),
    st.integers(1, 20),
    st.integers(1, 600),
    st.integers(1, 600),
    SHARE,
    SHARE,
)


@given(st.lists(st.one_of(STEADY, RAMP, INTERVALS), min_size=1, max_size=12))
def test_any_valid_workout_keeps_its_time_and_its_paces(
    steps: list[tuple[str, int, int | None, list[float]]],
) -> None:
    plan = plan_from_zwo(zwo("".join(s for s, *_ in steps)), "gen.zwo", THRESHOLD)
    assert sum(s.duration_s or 0 for s in plan.segments) == pytest.approx(
        sum(d for _, d, *_ in steps)
    )
    fixed = [n for _, _, n, _ in steps if n is not None]
    ramps = sum(1 for _, _, n, _ in steps if n is None)
    assert sum(fixed) + ramps <= len(plan.segments) <= sum(fixed) + RAMP_PIECES_MAX * ramps
    lowest = min(p for *_, ps in steps for p in ps) * THRESHOLD
    highest = max(p for *_, ps in steps for p in ps) * THRESHOLD
    for segment in plan.segments:
        assert lowest - 0.05 <= segment.speed_kmh <= highest + 0.05
        assert segment.direction is FWD  # nothing says backward
