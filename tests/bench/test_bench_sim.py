"""How fast the simulator runs through the in-process link on a fast-forwarded clock.

A 30-minute workout (treadmill data and HR at 1 Hz, every byte encoded,
delivered through the Link and decoded by a client) on a looptime loop: the
figure to quote is simulated minutes per wall-clock second = 30 / median.
"""

from __future__ import annotations

import asyncio

import looptime
from pytest_benchmark.fixture import BenchmarkFixture

from gateway.clock import LoopClock
from gateway.ftms import (
    ControlOp,
    ControlPointRequest,
    decode_heart_rate,
    decode_treadmill_data,
    encode_control_request,
)
from gateway.ftms import uuids as U
from simulators.inprocess import InProcessLink, running
from simulators.station import SimulatedStation

MINUTES = 30


async def workout(minutes: int) -> int:
    """Run ``minutes`` of an 8 km/h run; returns how many records the client decoded."""
    decoded = 0

    def on_data(data: bytes) -> None:
        nonlocal decoded
        decode_treadmill_data(data)
        decoded += 1

    def on_hr(data: bytes) -> None:
        nonlocal decoded
        decode_heart_rate(data)
        decoded += 1

    async with running(SimulatedStation(), LoopClock()) as runner:
        link = InProcessLink(runner)
        await link.connect()
        await link.subscribe(U.TREADMILL_DATA, on_data)
        await link.subscribe(U.HEART_RATE_MEASUREMENT, on_hr)
        for request in (
            ControlPointRequest(ControlOp.REQUEST_CONTROL),
            ControlPointRequest(ControlOp.SET_TARGET_SPEED, target_speed_kmh=8.0),
            ControlPointRequest(ControlOp.START_OR_RESUME),
        ):
            await link.write(U.FITNESS_MACHINE_CONTROL_POINT, encode_control_request(request))
        await asyncio.sleep(minutes * 60)
    return decoded


def run_fast_forwarded(minutes: int) -> int:
    loop = looptime.new_event_loop(start=0.0)  # fake time is on from the start
    try:
        return loop.run_until_complete(workout(minutes))
    finally:
        loop.close()


def test_simulated_minutes_per_wall_second(benchmark: BenchmarkFixture) -> None:
    decoded = benchmark.pedantic(run_fast_forwarded, args=(MINUTES,), rounds=5, iterations=1)  # type: ignore[no-untyped-call]
    # Every record and HR sample from t=1 s on: the t=0 pair goes out before the
    # client subscribes, and the pair at the last instant races the end.
    assert decoded >= 2 * (MINUTES * 60 - 1), decoded
    if benchmark.stats is not None:
        median = benchmark.stats.stats.median
        benchmark.extra_info["simulated_minutes_per_wall_second"] = round(MINUTES / median, 1)
