"""Cost of the parts that run on every state (cues) and every two seconds (HR control).

Figures, not assertions: ``uv run pytest tests/bench/test_bench_cues.py --benchmark-enable``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from pytest_benchmark.fixture import BenchmarkFixture

from gateway.cues.scheduler import CueScheduler, PlannedSegment
from gateway.workout.hrcontrol import Bounds, Effort, HrController, HrRange
from tests.unit.test_cues import Seg, St


def per_call(benchmark: BenchmarkFixture, fn: Callable[[], Any]) -> Any:
    return benchmark.pedantic(fn, iterations=2000, rounds=50, warmup_rounds=2)  # type: ignore[no-untyped-call]


def test_bench_a_state_through_the_cue_scheduler(benchmark: BenchmarkFixture) -> None:
    """One 4 Hz state into the scheduler, and the announcer asking what to say."""
    s = CueScheduler()
    s.plan([PlannedSegment("backward", 4.0, distance_m=100)])
    lefts = itertools.cycle([100.0 - n * 0.5 for n in range(200)])
    clock = itertools.count(0.0, 0.25)

    def one() -> None:
        now = next(clock)
        s.state(St("backward", "running", True, 6.0, False, None, next(lefts), Seg(0)), now)
        s.take(now)

    per_call(benchmark, one)


def test_bench_the_hr_controller(benchmark: BenchmarkFixture) -> None:
    c = HrController(HrRange(130, 140), Effort(3.0))
    bounds = Bounds(1.0, 6.0, 15.0, backward=True)
    beats = itertools.cycle([110.0 + n % 40 for n in range(80)])
    clock = itertools.count(0.0, 2.0)
    per_call(benchmark, lambda: c.update(next(clock), next(beats), bounds))
