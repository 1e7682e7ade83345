"""The gateway's station runtime against the in-process simulator.

The whole path, bytes included: simulator -> Link -> decode -> governor ->
control point -> simulator. Time is fast-forwarded by looptime. Assertions
are on the simulator's ground truth: its belt, and its log of the
control-point writes it received (``SimulatedStation.writes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from gateway.clock import LoopClock
from gateway.ftms import ControlOp, StopPause
from gateway.hub import AlertMessage, DecisionMessage, HeartRateMessage, HubMessage
from gateway.safety import SafetyLimits
from gateway.safety.direction import Direction
from gateway.station.runtime import StationRuntime
from gateway.workout.plan import Plan, parse_plan
from simulators.inprocess import InProcessLink, SimRunner, running
from simulators.scenario import Scenario
from simulators.station import SimulatedStation, StationSpec, Written

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
LONG_BACKWARD = parse_plan(
    """
    name = "long backward"
    [[segments]]
    direction = "forward"
    speed_kmh = 4.0
    duration_s = 30
    [[segments]]
    direction = "backward"
    speed_kmh = 9.0
    distance_m = 2000
    """,
    "test",
)
NO_HR = SafetyLimits(hr_expected=False)


@dataclass
class Watch:
    """What the gateway decided and told the runner, with loop times."""

    decisions: list[tuple[float, str]] = field(default_factory=list)
    alerts: list[tuple[float, str]] = field(default_factory=list)
    heart: list[tuple[float, int]] = field(default_factory=list)
    details: list[tuple[float, str, str, str]] = field(default_factory=list)  # rule, input, action

    def on_message(self, message: HubMessage) -> None:
        if isinstance(message, DecisionMessage):
            d = message.decision
            self.decisions.append((message.at, d.rule))
            self.details.append((message.at, d.rule, d.input, d.action))
        elif isinstance(message, AlertMessage):
            self.alerts.append((message.at, message.alert.code))
        elif isinstance(message, HeartRateMessage):
            self.heart.append((message.at, message.sample.heart_rate_bpm))

    def alerted(self, code: str) -> list[float]:
        return [t for t, c in self.alerts if c == code]


def speeds(writes: list[Written], since: float = float("-inf")) -> list[tuple[float, float]]:
    return [
        (w.at, w.request.target_speed_kmh)
        for w in writes
        if w.at >= since
        and w.request.op is ControlOp.SET_TARGET_SPEED
        and w.request.target_speed_kmh is not None
    ]


def ops(writes: list[Written], op: ControlOp, since: float = float("-inf")) -> list[float]:
    return [w.at for w in writes if w.request.op is op and w.at >= since]


class Belt:
    """Samples the simulated belt every 0.1 s: (time, km/h, direction the plan faces).

    The simulated runner faces the way the gateway says (the heart works
    harder backward), as in ``retrogate run --sim``.
    """

    def __init__(self, station: SimulatedStation, runtime: StationRuntime) -> None:
        self.station, self.runtime = station, runtime
        self.samples: list[tuple[float, float, str]] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.station.direction = Direction(self.runtime.hub.snapshot.direction)
            self.samples.append(
                (
                    loop.time(),
                    self.station.treadmill.belt_kmh,
                    self.runtime.hub.snapshot.direction,
                )
            )
            await asyncio.sleep(0.1)

    def backward_max(self) -> float:
        return max((kmh for _, kmh, d in self.samples if d == "backward"), default=0.0)


@contextlib.asynccontextmanager
async def station_running(
    plan: Plan | None,
    *events: dict[str, object],
    limits: SafetyLimits = NO_HR,
    spec: StationSpec | None = None,
    strap: bool = True,
    runner: SimRunner | None = None,
    resume_segment: int | None = None,
) -> AsyncIterator[tuple[StationRuntime, SimulatedStation, Watch, Belt]]:
    """A runtime on a simulated station; cancelled (no wind-down) after the block."""
    async with contextlib.AsyncExitStack() as stack:
        if runner is None:
            station = SimulatedStation(Scenario.model_validate({"events": list(events)}), spec)
            runner = await stack.enter_async_context(running(station, LoopClock()))
        link = InProcessLink(runner)
        runtime = StationRuntime(
            "test", limits, LoopClock(), link, link if strap else None, plan=plan
        )
        runtime.resume_segment = resume_segment
        watch = Watch()
        runtime.hub.subscribe(watch.on_message)
        belt = Belt(runner.station, runtime)
        tasks = [asyncio.create_task(runtime.run()), asyncio.create_task(belt.run())]
        try:
            yield runtime, runner.station, watch, belt
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await link.disconnect()


async def test_plan_runs_and_a_console_speed_up_in_a_backward_segment_is_corrected() -> None:
    speedup = {"at_s": 100, "action": "console", "button": "speed_up", "presses": 6}
    async with station_running(PLAN, speedup) as (runtime, station, watch, belt):
        await asyncio.sleep(200)
    written_backward = [kmh for t, kmh in speeds(station.writes, 62) if t < 100]
    assert max(written_backward) == 6.0  # the plan asked for 8: the cap was written
    corrections = [
        t for t, rule in watch.decisions if rule in ("correct_target", "correct_overspeed")
    ]
    assert 100 <= corrections[0] < 100.1  # in response to that very status
    assert [kmh for t, kmh in speeds(station.writes) if corrections[0] <= t < 100.1] == [6.0]
    assert belt.backward_max() <= 6.0 + 0.2
    assert runtime.engine is not None
    assert runtime.engine.finished
    assert station.treadmill.state.value == "stopped"  # the plan's end stopped the belt


async def test_a_treadmill_that_ignores_commands_is_paused_within_the_window() -> None:
    async with station_running(
        PLAN,
        {"at_s": 95, "action": "ignore_set_speed"},
        {"at_s": 100, "action": "console", "button": "speed_up", "presses": 6},
    ) as (runtime, station, watch, _):
        await asyncio.sleep(130)
    pauses = [
        w.at
        for w in station.writes
        if w.request.op is ControlOp.STOP_OR_PAUSE and w.request.stop_pause is StopPause.PAUSE
    ]
    first_over = next(t for t, rule in watch.decisions if rule == "correct_overspeed")
    assert pauses
    assert pauses[0] - first_over <= 3.0 + 1.0  # the escalation window plus one record
    assert runtime.view().phase.value == "halted"
    assert station.treadmill.state.value == "paused"
    assert not ops(station.writes, ControlOp.START_OR_RESUME, pauses[0])  # held until confirmed


async def test_a_treadmill_that_reverts_to_its_own_speed_never_breaks_the_cap() -> None:
    """The machine goes back to its previous target 2 s after every command."""
    revert = {"at_s": 55, "action": "revert_speed", "after_s": 2.0}
    async with station_running(PLAN, revert) as (_, station, watch, belt):
        await asyncio.sleep(200)
    assert max(kmh for t, kmh in speeds(station.writes, 62) if t < 100) <= 6.0
    corrected = [
        t for t, rule in watch.decisions if rule in ("correct_target", "correct_overspeed")
    ]
    assert corrected  # the reverts above the limit were seen and answered
    assert belt.backward_max() <= 6.0 + 0.2


async def test_hr_ceiling_steps_the_written_target_down_while_the_cap_holds() -> None:
    """Defect: plan 9 km/h backward, cap 6, HR over the ceiling: no write for 64 s."""
    limits = SafetyLimits(age=40, hr_expected=True)  # ceiling 162, pause 171
    surge = {"at_s": 60, "action": "hr_surge", "extra_bpm": 30}
    async with station_running(LONG_BACKWARD, surge, limits=limits) as (_, station, watch, belt):
        await asyncio.sleep(240)
    over = [t for t, bpm in watch.heart if bpm > limits.hr_ceiling_bpm]
    assert over, watch.heart[-5:]
    first = over[0]
    steps = speeds(station.writes, first)
    assert steps[0][0] - first < 0.1  # in response to that very sample
    assert steps[0][1] == 5.5  # one step below the 6.0 the belt was told
    again = next(t for t in over if t >= first + limits.hr_step_interval_s)
    assert any(kmh == 5.0 for t, kmh in steps if again <= t < again + 0.1)  # an interval on
    assert not any(kmh > 5.5 for t, kmh in steps if t < first + 60)
    late = [kmh for t, kmh, _ in belt.samples if first + 20 <= t <= first + 30]
    assert max(late) <= 5.0 + 0.01


async def test_silence_is_lost_control_the_belt_is_paused_and_the_link_reconnected() -> None:
    silent = {"at_s": 100, "action": "silent", "duration_s": 20}
    async with station_running(LONG_BACKWARD, silent) as (runtime, station, watch, _):
        await asyncio.sleep(140)
    (alerted,) = watch.alerted("data_lost")
    assert 100 < alerted <= 100 + 3.0 + 1.0 + 0.25  # last record, window, a tick
    pauses = ops(station.writes, ControlOp.STOP_OR_PAUSE, alerted)
    assert pauses[0] - alerted < 0.1
    assert station.treadmill.state.value == "paused"
    assert ops(station.writes, ControlOp.REQUEST_CONTROL, alerted)  # reconnected, asked again
    assert watch.alerted("data_back")
    assert runtime.hub.snapshot.cap_held is True  # held again after the reconnect


async def test_a_disconnect_is_lost_control_then_reconnected_with_the_cap_reasserted() -> None:
    drop = {"at_s": 100, "action": "disconnect"}
    async with station_running(LONG_BACKWARD, drop) as (runtime, station, watch, belt):
        await asyncio.sleep(130)
    assert [t for t in watch.alerted("control_lost") if 100 <= t < 101]
    regained = ops(station.writes, ControlOp.REQUEST_CONTROL, 100)
    assert regained
    assert speeds(station.writes, regained[0])[0][1] <= 6.0  # the cap, first thing
    assert belt.backward_max() <= 6.0 + 0.2
    assert runtime.hub.snapshot.cap_held is True


async def test_control_refused_is_loud_retried_with_backoff_and_regained() -> None:
    refuse = {"at_s": 100, "action": "refuse_control", "duration_s": 10}
    async with station_running(LONG_BACKWARD, refuse) as (runtime, station, watch, belt):
        await asyncio.sleep(130)
    assert [t for t in watch.alerted("control_lost") if 100 <= t < 100.5]
    retries = ops(station.writes, ControlOp.REQUEST_CONTROL, 100)
    assert len(retries) >= 3
    gaps = [b - a for a, b in itertools.pairwise(retries) if b < 110]
    assert gaps[-1] >= 2 * gaps[0]  # backing off, not hammering
    assert runtime.hub.snapshot.cap_held is True
    assert belt.backward_max() <= 6.0 + 0.2


async def test_control_point_timeouts_are_lost_control() -> None:
    slow = {"at_s": 100, "action": "slow_response", "delay_s": 3.0, "duration_s": 10}
    revert = {"at_s": 100.5, "action": "console", "button": "speed_up", "presses": 2}
    async with station_running(LONG_BACKWARD, slow, revert) as (_, _, watch, belt):
        await asyncio.sleep(130)
    lost = [t for t in watch.alerted("control_lost") if 100 <= t < 115]
    assert lost
    assert belt.backward_max() <= 6.0 + 0.2


INCLINE_PLAN = parse_plan(
    """
    name = "hills"
    [[segments]]
    direction = "forward"
    speed_kmh = 4.0
    incline_pct = 3.0
    duration_s = 20
    [[segments]]
    direction = "forward"
    speed_kmh = 4.0
    incline_pct = 5.0
    duration_s = 20
    """,
    "test",
)


async def test_a_treadmill_without_incline_is_sent_none_and_no_false_alarm() -> None:
    spec = StationSpec(with_incline=False)
    async with station_running(INCLINE_PLAN, spec=spec) as (runtime, station, watch, _):
        await asyncio.sleep(45)
    assert not ops(station.writes, ControlOp.SET_TARGET_INCLINATION)
    assert not watch.alerted("control_lost")
    assert len(watch.alerted("incline_unsupported")) == 1
    assert runtime.hub.snapshot.cap_held is True


async def test_hr_from_the_treadmills_own_receiver_drives_the_hr_rules() -> None:
    spec = StationSpec(with_hr=False, hr_in_treadmill_data=True)
    limits = SafetyLimits(age=40, hr_expected=False)
    surge = {"at_s": 60, "action": "hr_surge", "extra_bpm": 30}
    async with station_running(LONG_BACKWARD, surge, limits=limits, spec=spec, strap=False) as (
        runtime,
        station,
        watch,
        _,
    ):
        await asyncio.sleep(200)
    assert runtime.hub.snapshot.hr_source == "treadmill"
    assert not watch.alerted("no_hr_source")
    assert watch.alerted("hr_ceiling")
    assert min(kmh for _, kmh in speeds(station.writes, 100)) <= 5.5


async def test_no_hr_source_is_announced_at_the_start() -> None:
    spec = StationSpec(with_hr=False)
    async with station_running(PLAN, spec=spec, strap=False) as (runtime, _, watch, _):
        await asyncio.sleep(10)
    assert len(watch.alerted("no_hr_source")) == 1
    assert runtime.hub.snapshot.hr_source is None


async def test_wind_down_goes_through_the_governor_and_reaches_the_belt() -> None:
    async with station_running(LONG_BACKWARD) as (runtime, station, watch, _):
        await asyncio.sleep(60)  # backward at the 6 km/h cap
        assert station.treadmill.belt_kmh == pytest.approx(6.0)
        stop_at = asyncio.get_running_loop().time()
        await runtime.wind_down("SIGTERM")
        await asyncio.sleep(10)
    after = [w.request for w in station.writes if w.at >= stop_at]
    assert [r.op for r in after] == [ControlOp.SET_TARGET_SPEED, ControlOp.STOP_OR_PAUSE]
    assert after[0].target_speed_kmh == 2.0
    assert [rule for t, rule in watch.decisions if t >= stop_at] == ["wind_down", "wind_down"]
    assert station.treadmill.state.value == "paused"
    assert station.treadmill.belt_kmh == 0.0


async def test_a_restarted_gateway_slows_a_moving_belt_before_resuming_its_segment() -> None:
    """Defect: a restart started the plan over: 1.0 km/h, start, 5.0 forward within 1.2 s."""
    station = SimulatedStation(spec=StationSpec())
    async with running(station, LoopClock()) as runner:
        async with station_running(LONG_BACKWARD, runner=runner):
            await asyncio.sleep(60)  # backward at 6 km/h; then the process dies (no wind-down)
        assert station.treadmill.belt_kmh == pytest.approx(6.0)
        restart = asyncio.get_running_loop().time() + 3.0  # systemd's RestartSec
        await asyncio.sleep(3.0)
        async with station_running(LONG_BACKWARD, runner=runner, resume_segment=1) as (
            runtime,
            _,
            watch,
            belt,
        ):
            await asyncio.sleep(40)
    mine = [w for w in station.writes if w.at >= restart]
    assert [w.request.op for w in mine[:2]] == [
        ControlOp.REQUEST_CONTROL,
        ControlOp.SET_TARGET_SPEED,
    ]
    assert mine[1].request.target_speed_kmh == 2.0
    assert not ops(station.writes, ControlOp.START_OR_RESUME, restart)  # it was running
    safe = next(t for t, kmh, _ in belt.samples if kmh <= 2.0 + 0.2)
    assert safe - restart < 6.0  # 6 -> 2 km/h at the machine's 1 km/h/s, and the connect
    assert watch.alerted("restart")
    assert watch.alerted("turned")  # through the turnaround, with its countdown
    assert runtime.hub.snapshot.direction == "backward"  # the recorded segment, resumed
    assert runtime.engine is not None
    assert runtime.engine.index == 1
    assert max(kmh for t, kmh in speeds(station.writes, safe)) == 6.0  # ramped back up
