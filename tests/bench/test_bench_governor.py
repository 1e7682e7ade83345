"""Governor cost per event (target: at most 20 us), figures not assertions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_benchmark.fixture import BenchmarkFixture

from gateway.safety import SafetyLimits, initial_state, step
from gateway.safety.actions import SetTargetSpeed
from gateway.safety.direction import Direction
from gateway.safety.events import (
    ControlGranted,
    HeartRateSample,
    SegmentChange,
    SpeedRangeReported,
    Tick,
    TreadmillRecord,
)


def backward_state() -> Any:
    state = initial_state(SafetyLimits())
    for event in (
        SpeedRangeReported(0.5, 16.0),
        ControlGranted(),
        TreadmillRecord(0.0),  # the belt seen standing: no restart rule
        SegmentChange(0, Direction.BACKWARD, 5.0),
    ):
        state, _ = step(state, event, 0.0)
    return state


STATE = backward_state()


def per_call(benchmark: BenchmarkFixture, fn: Callable[[], Any]) -> Any:
    return benchmark.pedantic(fn, iterations=2000, rounds=50, warmup_rounds=2)  # type: ignore[no-untyped-call]


def test_steady_record(benchmark: BenchmarkFixture) -> None:
    event = TreadmillRecord(5.0)
    _, actions = per_call(benchmark, lambda: step(STATE, event, 10.0))
    assert actions == []


def test_overspeed_record_corrected(benchmark: BenchmarkFixture) -> None:
    event = TreadmillRecord(7.0)
    _, actions = per_call(benchmark, lambda: step(STATE, event, 10.0))
    assert SetTargetSpeed(6.0) in actions


def test_heart_rate_sample(benchmark: BenchmarkFixture) -> None:
    event = HeartRateSample(130)
    per_call(benchmark, lambda: step(STATE, event, 10.0))


def test_tick(benchmark: BenchmarkFixture) -> None:
    per_call(benchmark, lambda: step(STATE, Tick(), 10.0))
