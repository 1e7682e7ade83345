"""The simulated heart: effort, direction, lag, RR intervals, contact."""

from __future__ import annotations

import pytest

from gateway.safety.direction import Direction
from simulators.heart import HeartModel


def settle(model: HeartModel, speed: float, direction: Direction, seconds: int = 600) -> None:
    for _ in range(seconds):
        model.advance(model.now + 1, speed, 0.0, direction)
        model.measurement()


def test_williford_calibration_forward_and_backward_at_walking_speed() -> None:
    forward, backward = HeartModel(), HeartModel()
    settle(forward, 4.8, Direction.FORWARD)
    settle(backward, 4.8, Direction.BACKWARD)
    assert forward.bpm == pytest.approx(113, abs=8)
    assert 12 <= backward.bpm - forward.bpm <= 28  # "about 20 bpm" (ENERGY.md: 113 -> 132)


def test_heart_rate_lags_behind_effort() -> None:
    model = HeartModel()
    model.advance(10.0, 10.0, 0.0, Direction.FORWARD)
    goal = model.steady_state(10.0, 0.0, Direction.FORWARD)
    assert 60 < model.bpm < goal - 20  # well short of steady state after 10 s
    settle(model, 10.0, Direction.FORWARD)
    assert model.bpm == pytest.approx(goal, abs=1)


def test_rr_intervals_match_the_rate() -> None:
    model = HeartModel()
    settle(model, 8.0, Direction.FORWARD)
    rrs: list[float] = []
    for _ in range(60):
        model.advance(model.now + 1, 8.0, 0.0, Direction.FORWARD)
        rrs += model.measurement().rr_intervals_s
    beats_per_minute = len(rrs)
    assert beats_per_minute == pytest.approx(model.bpm, abs=2)
    assert sum(rrs) / len(rrs) == pytest.approx(60 / model.bpm, rel=0.02)


def test_contact_lost_reports_no_rate() -> None:
    model = HeartModel()
    model.advance(5.0, 5.0, 0.0, Direction.FORWARD)
    model.contact = False
    hr = model.measurement()
    assert (hr.heart_rate_bpm, hr.contact, hr.rr_intervals_s) == (0, False, ())


def test_battery_drains() -> None:
    model = HeartModel()
    model.advance(3600.0, 0.0, 0.0, Direction.FORWARD)
    assert model.battery_pct == pytest.approx(95.0)
