"""Every FTMS treadmill a runner owns (issue 26): machines without the optional parts and
machines that cannot be controlled, as simulator profiles, under the real runtime.

Ground truth is the simulator: its belt and its log of control-point writes."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

import pytest

from gateway.ftms import ControlOp
from gateway.workout.plan import parse_plan
from simulators.station import PROFILES, StationSpec, with_profile

from .test_station_runtime import NO_HR, ops, station_running

pytestmark = pytest.mark.looptime

BACKWARD_PLAN = parse_plan(
    """
    name = "by hand"
    [[segments]]
    direction = "backward"
    speed_kmh = 5.0
    duration_s = 300
    """,
    "test",
)


def profile(name: str) -> StationSpec:
    return with_profile(StationSpec(), name)


def test_every_profile_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "simulator.md").read_text()
    assert [p for p in PROFILES if f"`{p}`" not in text] == []


async def test_no_speed_range_runs_on_the_assumed_range_and_says_so_once() -> None:
    async with station_running(BACKWARD_PLAN, spec=profile("no-speed-range")) as (
        runtime,
        station,
        watch,
        belt,
    ):
        await asyncio.sleep(60)
    assert len(watch.alerted("no_speed_range")) == 1
    assert runtime.hub.snapshot.max_kmh == 16.0
    assert runtime.hub.snapshot.control == "held"
    assert 4.9 <= station.treadmill.belt_kmh <= 5.0  # the plan runs as usual
    assert belt.backward_max() <= 6.0 + 0.2


async def test_no_status_characteristics_still_correct_a_console_speed_up_from_the_data() -> None:
    """Without Fitness Machine Status the target correction never hears the console; the
    overspeed correction, from Treadmill Data, does the work (docs/safety.md)."""
    speed_up = {"at_s": 60, "action": "console", "button": "speed_up", "presses": 8}
    async with station_running(BACKWARD_PLAN, speed_up, spec=profile("no-status")) as (
        _,
        station,
        watch,
        _belt,
    ):
        await asyncio.sleep(120)
    rules = [rule for _, rule in watch.decisions]
    assert "correct_overspeed" in rules
    assert "correct_target" not in rules  # nothing told it the target changed
    assert station.treadmill.belt_kmh <= 6.0


async def test_watch_mode_writes_nothing_and_warns_everywhere() -> None:
    """No control point: the session, the plan's timing and the warnings run; the cap
    cannot be enforced, so the runner is told, and told again while too fast."""
    start = {"at_s": 5, "action": "console", "button": "start"}
    too_fast = {"at_s": 20, "action": "console", "button": "speed_up", "presses": 70}
    async with station_running(
        BACKWARD_PLAN, start, too_fast, spec=profile("no-control-point")
    ) as (runtime, station, watch, _):
        await asyncio.sleep(60)
        snap = runtime.hub.snapshot
    assert station.writes == []  # nothing, ever, was written to the treadmill
    assert snap.control == "none"
    assert len(watch.alerted("watch_mode")) == 1
    said = watch.alerted("too_fast")
    assert len(said) >= 3  # repeated every few seconds while the belt is too fast
    assert all(b - a >= 8.0 for a, b in itertools.pairwise(said))
    assert snap.segment is not None  # the plan's timing runs: the runner follows the cues
    assert snap.direction == "backward"


async def test_control_refused_is_watch_mode_with_requests_for_control_only() -> None:
    start = {"at_s": 5, "action": "console", "button": "start"}
    async with station_running(BACKWARD_PLAN, start, spec=profile("control-refused")) as (
        runtime,
        station,
        watch,
        _,
    ):
        await asyncio.sleep(60)
        snap = runtime.hub.snapshot
    assert {w.request.op for w in station.writes} == {ControlOp.REQUEST_CONTROL}
    assert len(ops(station.writes, ControlOp.REQUEST_CONTROL)) >= 3  # asked again, backing off
    assert snap.control == "lost"
    assert watch.alerted("control_lost")


async def test_control_that_comes_back_ends_watch_mode() -> None:
    refuse = {"at_s": 0, "action": "refuse_control", "duration_s": 40}
    async with station_running(BACKWARD_PLAN, refuse, limits=NO_HR) as (runtime, station, _, _b):
        seen: list[str] = []
        for _ in range(80):
            seen.append(runtime.hub.snapshot.control)
            await asyncio.sleep(1)
        assert seen[20] == "lost"
        assert seen[-1] == "held"
    assert station.treadmill.belt_kmh >= 4.9  # the plan took the belt once control came


def test_a_profile_is_a_spec_change_only() -> None:
    base = StationSpec()
    for name, changes in PROFILES.items():
        assert with_profile(base, name) == replace(base, **changes)  # type: ignore[arg-type]


def test_the_commands_profile_names_are_the_simulators_profiles() -> None:
    """``sim --profile`` keeps its own list (the parser stays light): it must agree."""
    from simulators.cli import PROFILE_NAMES

    assert tuple(PROFILES) == PROFILE_NAMES
