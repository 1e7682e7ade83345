"""The gateway's station runtime against the in-process simulator.

The whole path, bytes included: simulator -> Link -> decode -> governor ->
control point -> simulator. Time is fast-forwarded by looptime.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from gateway.clock import LoopClock
from gateway.ftms import ControlOp, ControlPointRequest, StopPause
from gateway.hub import DecisionMessage, HubMessage
from gateway.safety import SafetyLimits
from gateway.session.station import StationRuntime
from gateway.workout.plan import parse_plan
from simulators.inprocess import InProcessLink, running
from simulators.scenario import Scenario
from simulators.station import SimulatedStation

pytestmark = pytest.mark.looptime

PLAN = parse_plan(
    """
    name = "short retro"
    [[segments]]
    direction = "forward"
    speed_kmh = 5.0
    duration_s = 60
    [[segments]]
    direction = "backward"
    speed_kmh = 8.0
    distance_m = 100
    [[segments]]
    direction = "forward"
    speed_kmh = 5.0
    duration_s = 30
    """,
    "test",
)


@dataclass
class Watch:
    """What the gateway wrote and decided, with loop times."""

    loop: asyncio.AbstractEventLoop
    writes: list[tuple[float, ControlPointRequest]] = field(default_factory=list)
    decisions: list[tuple[float, str]] = field(default_factory=list)

    def on_write(self, request: ControlPointRequest) -> None:
        self.writes.append((self.loop.time(), request))

    def on_message(self, message: HubMessage) -> None:
        if isinstance(message, DecisionMessage):
            self.decisions.append((message.at, message.decision.rule))


async def run_plan(
    *events: dict[str, object], seconds: float
) -> tuple[StationRuntime, SimulatedStation, Watch]:
    station = SimulatedStation(Scenario.model_validate({"events": list(events)}))
    clock = LoopClock()
    watch = Watch(asyncio.get_running_loop())
    async with running(station, clock) as sim:
        link = InProcessLink(sim)
        runtime = StationRuntime(
            "test",
            SafetyLimits(hr_expected=False),
            clock,
            link,
            link,
            plan=PLAN,
            on_write=watch.on_write,
        )
        runtime.hub.subscribe(watch.on_message)
        task = asyncio.create_task(runtime.run())
        await asyncio.sleep(seconds)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return runtime, station, watch


def backward_speeds(watch: Watch, runtime: StationRuntime) -> list[float]:
    return [
        r.target_speed_kmh
        for _, r in watch.writes
        if r.op is ControlOp.SET_TARGET_SPEED and r.target_speed_kmh is not None
    ]


async def test_plan_runs_and_a_console_speed_up_in_a_backward_segment_is_corrected() -> None:
    runtime, station, watch = await run_plan(
        {"at_s": 100, "action": "console", "button": "speed_up", "presses": 6}, seconds=200
    )
    assert runtime.max_backward_command_kmh == 6.0  # the plan asked for 8
    corrections = [
        t for t, rule in watch.decisions if rule in ("correct_target", "correct_overspeed")
    ]
    assert corrections
    assert 100 <= corrections[0] < 100.1  # in response to that very status
    assert runtime.engine is not None
    assert runtime.engine.finished
    assert runtime.hub.snapshot.segment is not None
    assert station.treadmill.belt_kmh < 6.0 + 0.2 or runtime.state.direction.value == "forward"


async def test_a_treadmill_that_ignores_commands_is_paused_within_the_window() -> None:
    runtime, station, watch = await run_plan(
        {"at_s": 95, "action": "ignore_set_speed"},
        {"at_s": 100, "action": "console", "button": "speed_up", "presses": 6},
        seconds=130,
    )
    pauses = [
        t
        for t, r in watch.writes
        if r.op is ControlOp.STOP_OR_PAUSE and r.stop_pause is StopPause.PAUSE
    ]
    assert pauses
    first_over = next(t for t, rule in watch.decisions if rule == "correct_overspeed")
    assert pauses[0] - first_over <= 3.0 + 1.0  # the escalation window plus one record
    assert runtime.state.phase.value == "halted"
    assert station.treadmill.state.value == "paused"


async def test_a_treadmill_that_reverts_to_its_own_speed_never_breaks_the_cap() -> None:
    """The machine goes back to its previous target 2 s after every command."""
    runtime, _, watch = await run_plan(
        {"at_s": 55, "action": "revert_speed", "after_s": 2.0}, seconds=200
    )
    assert runtime.max_backward_command_kmh <= 6.0
    corrected = [
        t for t, rule in watch.decisions if rule in ("correct_target", "correct_overspeed")
    ]
    assert corrected  # the reverts above the limit were seen and answered
    assert runtime.state.phase.value != "halted" or any(r == "escalate" for _, r in watch.decisions)
