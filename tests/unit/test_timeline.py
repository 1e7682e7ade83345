"""Reading a session: odometers through counter resets, HR age, laps that add up."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from gateway.store.timeline import HR_MAX_AGE_S, Odometer, Segment, Stored, laps, read_rows


def test_an_odometer_adds_steps_counts_a_reset_from_zero_and_ignores_jitter() -> None:
    odo = Odometer(jitter=5.0)
    readings = [100, 150, 148, 152, 3, 40, None, 45]
    totals = [odo.feed(r) for r in readings]
    # baseline 100; +50; jitter; +2; reset (+3); +37; missing; +5
    assert totals == [0, 50, 50, 52, 55, 92, 92, 97]


@given(
    st.lists(
        st.tuples(st.integers(1, 200), st.booleans()),  # (distance gained, reset before it)
        min_size=1,
        max_size=50,
    )
)
def test_an_odometer_over_resetting_counters_totals_what_the_belt_did(
    steps: list[tuple[int, bool]],
) -> None:
    """Resets as treadmills do them: after some distance, and the next reading comes
    before the belt has gone far again (at 1 Hz, a few metres)."""
    odo, counter, truth, totals = Odometer(jitter=5.0), 0, 0, []
    for gained, reset in steps:
        if reset and counter > 20:
            counter, gained = 0, min(gained, 10)
        counter += gained
        truth += gained
        totals.append(odo.feed(counter))
    assert totals == sorted(totals)  # monotonic
    assert totals[-1] == truth - steps[0][0]  # all of it, from the first reading on


def _telemetry(t: float, distance: int, direction: str = "forward") -> Stored:
    body = {"seq": int(t), "ts": t, "speed_kmh": 4.0, "distance_m": distance,
            "elapsed_s": int(t), "direction": direction}  # fmt: skip
    return Stored(t, int(t), json.dumps(body))


def test_heart_rate_older_than_the_limit_is_no_heart_rate() -> None:
    telemetry = [_telemetry(t, t) for t in range(1, 21)]
    beats = [Stored(1.0, 1, json.dumps({"heart_rate_bpm": 120}))]
    rows = list(read_rows(telemetry, beats, []))
    with_hr = [r.ts for r in rows if r.heart_rate_bpm]
    assert with_hr == [t for t in range(1, 21) if t - 1 <= HR_MAX_AGE_S]


def test_laps_follow_segments_and_add_up_to_the_session() -> None:
    telemetry = [_telemetry(t, 2 * t, "backward" if 10 <= t < 15 else "forward") for t in range(30)]
    segments = [Segment(0, 0, "forward", "warm-up"), Segment(10, 1, "backward"),
                Segment(15, 2, "forward")]  # fmt: skip
    rows = list(read_rows(telemetry, [], segments))
    found = laps(rows)
    assert [lap.name for lap in found] == [
        "forward 18 m · warm-up",
        "backward 10 m",
        "forward 30 m",
    ]
    assert sum(lap.distance_m for lap in found) == rows[-1].distance_m - rows[0].distance_m


def test_in_free_mode_a_direction_change_is_a_lap() -> None:
    telemetry = [_telemetry(t, t, "backward" if t >= 5 else "forward") for t in range(10)]
    assert [lap.direction for lap in laps(list(read_rows(telemetry, [], [])))] == [
        "forward",
        "backward",
    ]
