"""Codec throughput on the hot path (run with ``uv run pytest tests/bench --benchmark-enable``).

Figures, not assertions: the medians are quoted in the closing notes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pytest_benchmark.fixture import BenchmarkFixture

from gateway.ftms import (
    HeartRate,
    TreadmillData,
    decode_heart_rate,
    decode_treadmill_data,
    encode_heart_rate,
    encode_treadmill_data,
)

T = TypeVar("T")

# A typical full record: speed, average speed, distance, incline, elevation,
# energy, heart rate, elapsed time.
TYPICAL = encode_treadmill_data(
    TreadmillData(
        speed_kmh=6.27,
        avg_speed_kmh=5.5,
        distance_m=1234,
        incline_pct=1.5,
        ramp_angle_deg=0.9,
        elevation_gain_m=12.3,
        elevation_loss_m=0.0,
        energy_kcal=88,
        energy_per_hour_kcal=420,
        energy_per_minute_kcal=7,
        heart_rate_bpm=131,
        elapsed_s=900,
    )
)
HR_TWO_RR = encode_heart_rate(HeartRate(115, True, None, (528 / 1024, 525 / 1024)))


def _per_call(benchmark: BenchmarkFixture, fn: Callable[[Any], T], arg: Any) -> T:
    """Many calls per timed round, so the timer's own cost (about 1 us here)
    does not swamp a call that takes a few microseconds."""
    result: T = benchmark.pedantic(  # type: ignore[no-untyped-call]
        fn, args=(arg,), iterations=2000, rounds=100, warmup_rounds=2
    )
    return result


def test_decode_typical_treadmill_record(benchmark: BenchmarkFixture) -> None:
    record = _per_call(benchmark, decode_treadmill_data, TYPICAL)
    assert record.speed_kmh == 6.27
    assert record.elapsed_s == 900


def test_decode_heart_rate_with_two_rr(benchmark: BenchmarkFixture) -> None:
    record = _per_call(benchmark, decode_heart_rate, HR_TWO_RR)
    assert record.heart_rate_bpm == 115


def test_encode_typical_treadmill_record(benchmark: BenchmarkFixture) -> None:
    record = decode_treadmill_data(TYPICAL)
    assert _per_call(benchmark, encode_treadmill_data, record) == TYPICAL
