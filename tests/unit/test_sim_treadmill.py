"""The simulated treadmill's physics and control-point rules (pure, time handed in)."""

from __future__ import annotations

import pytest

from gateway.ftms import ControlOp, ControlPointRequest, MachineStatusOp, ResultCode, StopPause
from simulators.treadmill import BeltState, TreadmillModel, TreadmillSpec

SPEED = ControlOp.SET_TARGET_SPEED


def req(op: ControlOp, **kw: object) -> ControlPointRequest:
    return ControlPointRequest(op, **kw)  # type: ignore[arg-type]


def started(speed: float = 5.0) -> TreadmillModel:
    tm = TreadmillModel()
    assert tm.control("a", req(ControlOp.REQUEST_CONTROL))[0] is ResultCode.SUCCESS
    tm.control("a", req(SPEED, target_speed_kmh=speed))
    assert tm.control("a", req(ControlOp.START_OR_RESUME))[0] is ResultCode.SUCCESS
    return tm


def test_belt_ramps_at_the_configured_acceleration_and_distance_grows() -> None:
    tm = started(5.0)
    tm.advance(2.0)
    assert tm.belt_kmh == pytest.approx(2.0)
    tm.advance(10.0)
    assert tm.belt_kmh == pytest.approx(5.0)
    assert tm.record().speed_kmh == 5.0
    # 5 s ramp (mean 2.5 km/h) then 5 s at 5 km/h
    assert tm.distance_m == pytest.approx((2.5 * 5 + 5.0 * 5) / 3.6)
    assert tm.record().elapsed_s == 10


def test_record_speed_is_exact_on_the_wire_grid() -> None:
    tm = started(6.3)
    tm.advance(100.0)
    assert repr(tm.record().speed_kmh) == "6.3"


@pytest.mark.parametrize(
    ("setup", "request_", "result"),
    [
        ("none", req(SPEED, target_speed_kmh=5.0), ResultCode.CONTROL_NOT_PERMITTED),
        ("control", req(SPEED, target_speed_kmh=16.5), ResultCode.INVALID_PARAMETER),
        ("control", req(SPEED, target_speed_kmh=0.4), ResultCode.INVALID_PARAMETER),
        (
            "control",
            req(ControlOp.SET_TARGET_INCLINATION, target_incline_pct=16.0),
            ResultCode.INVALID_PARAMETER,
        ),
        ("started", req(ControlOp.START_OR_RESUME), ResultCode.OPERATION_FAILED),
        (
            "control",
            req(ControlOp.STOP_OR_PAUSE, stop_pause=StopPause.STOP),
            ResultCode.OPERATION_FAILED,
        ),
        (
            "control",
            req(ControlOp.SET_TARGET_POWER, parameter=(100,)),
            ResultCode.OP_CODE_NOT_SUPPORTED,
        ),
        ("other", req(ControlOp.REQUEST_CONTROL), ResultCode.CONTROL_NOT_PERMITTED),
        ("started", req(ControlOp.STOP_OR_PAUSE, stop_pause=StopPause.PAUSE), ResultCode.SUCCESS),
    ],
)
def test_control_point_rules(setup: str, request_: ControlPointRequest, result: ResultCode) -> None:
    tm = started() if setup == "started" else TreadmillModel()
    if setup in ("control", "other"):
        tm.control("other" if setup == "other" else "a", req(ControlOp.REQUEST_CONTROL))
    assert tm.control("a", request_)[0] is result


def test_set_speed_announces_target_changed_and_snaps_to_the_grid() -> None:
    tm = started()
    result, statuses = tm.control("a", req(SPEED, target_speed_kmh=7.25))
    assert result is ResultCode.SUCCESS
    assert [(s.op, s.target_speed_kmh) for s in statuses] == [
        (MachineStatusOp.TARGET_SPEED_CHANGED, 7.3)
    ]


def test_console_speed_up_notifies_and_the_belt_follows() -> None:
    tm = started(5.0)
    tm.advance(10.0)
    statuses = tm.console_speed(2)
    assert [(s.op, s.target_speed_kmh) for s in statuses] == [
        (MachineStatusOp.TARGET_SPEED_CHANGED, 6.0)
    ]
    tm.advance(12.0)
    assert tm.record().speed_kmh == 6.0


def test_console_buttons_and_safety_key() -> None:
    tm = TreadmillModel()
    assert [s.op for s in tm.console_start()] == [MachineStatusOp.STARTED_OR_RESUMED_BY_USER]
    assert tm.console_start() == []  # already started: nothing happens
    tm.advance(5.0)
    assert [s.op for s in tm.pull_safety_key()] == [MachineStatusOp.STOPPED_BY_SAFETY_KEY]
    assert tm.state is BeltState.STOPPED
    tm.advance(5.2)
    assert tm.belt_kmh == pytest.approx(1.0 - 0.6)  # emergency deceleration 3 km/h/s
    tm.controller = "a"
    assert tm.control("a", req(ControlOp.START_OR_RESUME))[0] is ResultCode.OPERATION_FAILED
    tm.insert_safety_key()
    assert tm.control("a", req(ControlOp.START_OR_RESUME))[0] is ResultCode.SUCCESS


def test_losing_control_is_announced_once() -> None:
    tm = started()
    assert [s.op for s in tm.lose_control()] == [MachineStatusOp.CONTROL_PERMISSION_LOST]
    assert tm.lose_control() == []
    assert tm.control("a", req(SPEED, target_speed_kmh=3.0))[0] is ResultCode.CONTROL_NOT_PERMITTED


def test_stop_then_start_begins_a_new_workout_pause_keeps_it() -> None:
    tm = started()
    tm.advance(60.0)
    tm.control("a", req(ControlOp.STOP_OR_PAUSE, stop_pause=StopPause.PAUSE))
    tm.advance(70.0)
    distance = tm.distance_m
    tm.control("a", req(ControlOp.START_OR_RESUME))
    assert tm.distance_m == distance
    tm.control("a", req(ControlOp.STOP_OR_PAUSE, stop_pause=StopPause.STOP))
    tm.control("a", req(ControlOp.START_OR_RESUME))
    assert tm.distance_m == 0.0


def test_custom_spec_ranges() -> None:
    tm = TreadmillModel(TreadmillSpec(min_kmh=1.0, max_kmh=20.0, step_kmh=0.5))
    tm.control("a", req(ControlOp.REQUEST_CONTROL))
    _, statuses = tm.control("a", req(SPEED, target_speed_kmh=7.3))
    assert statuses[0].target_speed_kmh == 7.5
