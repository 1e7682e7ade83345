"""The service end to end in process: --sim, --duration, and a safe shutdown."""

from __future__ import annotations

import pytest

from gateway.clock import LoopClock
from gateway.config import Settings
from gateway.ftms import ControlOp, ControlPointRequest, StopPause
from gateway.service import NotPaired, RunOptions, Service
from gateway.workout.plan import parse_plan

pytestmark = pytest.mark.looptime

BACKWARD = parse_plan(
    """
    name = "backward"
    [[segments]]
    direction = "backward"
    speed_kmh = 5.0
    duration_s = 600
    """,
    "test",
)


async def test_shutdown_slows_a_backward_belt_then_pauses_it() -> None:
    writes: list[ControlPointRequest] = []
    options = RunOptions(
        plan=BACKWARD,
        sim=True,
        duration_s=60,
        status_line=False,
        on_write=lambda _, request: writes.append(request),
    )
    stations = await Service(
        Settings(gateway_id="test", mqtt={"broker": "none"}), options, LoopClock()
    ).run()
    station = stations[0]
    targets = [r.target_speed_kmh for r in writes if r.op is ControlOp.SET_TARGET_SPEED]
    assert max(t for t in targets if t is not None) == 5.0  # the plan's backward speed
    assert writes[-2:] == [
        ControlPointRequest(ControlOp.SET_TARGET_SPEED, target_speed_kmh=2.0),
        ControlPointRequest(ControlOp.STOP_OR_PAUSE, stop_pause=StopPause.PAUSE),
    ]
    assert not station.treadmill.is_connected  # links closed after winding down


async def test_without_a_paired_treadmill_run_says_what_to_do() -> None:
    service = Service(Settings(gateway_id="test"), RunOptions(), LoopClock())
    with pytest.raises(NotPaired, match="no treadmill is paired: run `retrogate pair`"):
        await service.run()
