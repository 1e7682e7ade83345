"""The bridge's virtual treadmill, with no I/O: what the app writes becomes a command for
the station's one door, and the app hears what the governor did (issue 25)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.bridge.virtual import Notify, Say, Seen, Submit, VirtualTreadmill, frames
from gateway.ftms import (
    ControlOp,
    ControlPointRequest,
    FitnessMachineFeature,
    MachineStatusOp,
    ResultCode,
    SpeedRange,
    StopPause,
    TreadmillData,
    TreadmillDataJoiner,
    decode_control_response,
    decode_machine_status,
    decode_treadmill_data,
    encode_control_request,
    encode_feature,
    encode_speed_range,
)
from gateway.ftms import uuids as U
from gateway.ftms.rsc import RscMeasurement, decode_rsc_measurement, encode_rsc_measurement
from gateway.hub import MachineMessage, Snapshot
from gateway.safety.actions import CommandResult
from gateway.safety.direction import Direction
from gateway.safety.events import CommandKind

APP, OTHER = "/org/bluez/hci2/dev_00_00_00_44_44_44", "/org/bluez/hci2/dev_00_00_00_55_55_55"
CP = U.FITNESS_MACHINE_CONTROL_POINT
FEATURE = encode_feature(FitnessMachineFeature(("total_distance",), ("speed",)))
MACHINE = MachineMessage(
    0.0, "AA:BB", FEATURE, encode_speed_range(SpeedRange(0.5, 16.0, 0.1)), None
)
RUNNING = Snapshot("tm1", running=True, treadmill_connected=True)


def virtual(snapshot: Snapshot = RUNNING) -> VirtualTreadmill:
    v = VirtualTreadmill(MACHINE, walk_kmh=3.0)
    v.on_state(snapshot)
    return v


def req(op: ControlOp, **kw: object) -> bytes:
    return encode_control_request(ControlPointRequest(op, **kw))  # type: ignore[arg-type]


def answers(out: Sequence[object]) -> list[tuple[int, int]]:
    return [
        (int(r.request_op), int(r.result))
        for n in out
        if isinstance(n, Notify) and n.uuid == CP
        for r in [decode_control_response(n.data)]
    ]


def submitted(out: Sequence[object]) -> list[tuple[CommandKind, object]]:
    return [(s.command.kind, s.command.value) for s in out if isinstance(s, Submit)]


def test_the_app_sees_the_real_treadmills_feature_and_range_and_no_more() -> None:
    v = virtual()
    assert v.read(U.FITNESS_MACHINE_FEATURE) == FEATURE
    assert v.read(U.SUPPORTED_SPEED_RANGE) == MACHINE.speed_range
    with pytest.raises(KeyError):
        v.read(U.SUPPORTED_INCLINATION_RANGE)  # the real one has none


def test_a_speed_is_asked_of_the_governor_and_answered_as_it_answered() -> None:
    v = virtual()
    assert answers(v.write(APP, CP, req(ControlOp.REQUEST_CONTROL))) == [(0x00, 0x01)]
    out = v.write(APP, CP, req(ControlOp.SET_TARGET_SPEED, target_speed_kmh=9.0))
    assert answers(out) == []  # not yet: the governor answers first
    (submit,) = [s for s in out if isinstance(s, Submit)]
    assert (submit.command.kind, submit.command.value, submit.command.source) == (
        CommandKind.SET_SPEED,
        9.0,
        "app",
    )
    done = v.on_result(CommandResult(submit.command.id, True, applied="target 6.00 km/h"))
    assert answers(done) == [(0x02, ResultCode.SUCCESS)]
    assert any(isinstance(s, Seen) and "6.00" in (s.asked or "") for s in done)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("speed must be a number from 0 to 16 km/h", ResultCode.INVALID_PARAMETER),
        ("a plan is running: it sets the speed", ResultCode.CONTROL_NOT_PERMITTED),
        ("halted after a safety stop: confirm first", ResultCode.CONTROL_NOT_PERMITTED),
        ("this treadmill has no incline control", ResultCode.OP_CODE_NOT_SUPPORTED),
    ],
)
def test_a_refusal_is_the_ftms_result_that_tells_the_truth(error: str, code: ResultCode) -> None:
    v = virtual()
    v.write(APP, CP, req(ControlOp.REQUEST_CONTROL))
    (submit,) = v.write(APP, CP, req(ControlOp.SET_TARGET_SPEED, target_speed_kmh=9.0))
    assert isinstance(submit, Submit)
    assert answers(v.on_result(CommandResult(submit.command.id, False, error=error))) == [
        (0x02, code)
    ]


def test_without_control_only_stop_and_pause_are_taken() -> None:
    v = virtual()
    speed = v.write(APP, CP, req(ControlOp.SET_TARGET_SPEED, target_speed_kmh=5.0))
    assert answers(speed) == [(0x02, ResultCode.CONTROL_NOT_PERMITTED)]
    assert submitted(speed) == []
    stop = v.write(OTHER, CP, req(ControlOp.STOP_OR_PAUSE, stop_pause=StopPause.PAUSE))
    assert submitted(stop) == [(CommandKind.PAUSE, None)]


def test_a_second_app_is_refused_control_while_the_first_holds_it() -> None:
    v = virtual()
    v.write(APP, CP, req(ControlOp.REQUEST_CONTROL))
    assert answers(v.write(OTHER, CP, req(ControlOp.REQUEST_CONTROL))) == [
        (0x00, ResultCode.CONTROL_NOT_PERMITTED)
    ]


def test_start_on_a_running_belt_is_a_success_that_does_nothing() -> None:
    v = virtual()
    v.write(APP, CP, req(ControlOp.REQUEST_CONTROL))
    for _ in range(3):  # some Zwift versions send Start every few seconds
        out = v.write(APP, CP, req(ControlOp.START_OR_RESUME))
        assert answers(out) == [(0x07, ResultCode.SUCCESS)]
        assert submitted(out) == []
    stopped = virtual(replace(RUNNING, running=False))
    stopped.write(APP, CP, req(ControlOp.REQUEST_CONTROL))
    assert submitted(stopped.write(APP, CP, req(ControlOp.START_OR_RESUME))) == [
        (CommandKind.START, None)
    ]


def test_unknown_and_malformed_writes_get_their_result_codes() -> None:
    v = virtual()
    v.write(APP, CP, req(ControlOp.REQUEST_CONTROL))
    assert answers(v.write(APP, CP, bytes([0x05, 0x10, 0x00]))) == [
        (0x05, ResultCode.OP_CODE_NOT_SUPPORTED)
    ]  # set target power: not a treadmill's
    assert answers(v.write(APP, CP, bytes([0x02, 0x10]))) == [
        (0x02, ResultCode.INVALID_PARAMETER)
    ]  # a speed one byte short
    with pytest.raises(KeyError):
        v.write(APP, U.TREADMILL_DATA, b"\x00")


def test_an_app_that_drove_a_backward_belt_brings_it_to_walking_speed_when_it_goes() -> None:
    v = virtual(replace(RUNNING, direction=Direction.BACKWARD))
    v.write(APP, CP, req(ControlOp.REQUEST_CONTROL))
    (submit,) = v.write(APP, CP, req(ControlOp.SET_TARGET_SPEED, target_speed_kmh=5.0))
    assert isinstance(submit, Submit)
    v.on_result(CommandResult(submit.command.id, True, applied="target 5.00 km/h"))
    out = v.left(APP)
    assert submitted(out) == [(CommandKind.SET_SPEED, 3.0)]
    assert [s.alert.code for s in out if isinstance(s, Say)] == ["app_gone"]


def test_an_app_that_drove_forward_leaves_the_belt_as_it_is_and_says_so() -> None:
    v = virtual()
    v.write(APP, CP, req(ControlOp.REQUEST_CONTROL))
    (submit,) = v.write(APP, CP, req(ControlOp.SET_TARGET_SPEED, target_speed_kmh=8.0))
    assert isinstance(submit, Submit)
    v.on_result(CommandResult(submit.command.id, True, applied="target 8.00 km/h"))
    out = v.left(APP)
    assert submitted(out) == []
    assert [s.alert.code for s in out if isinstance(s, Say)] == ["app_gone"]


def test_an_app_that_only_watched_changes_nothing_when_it_goes() -> None:
    v = virtual(replace(RUNNING, direction=Direction.BACKWARD))
    v.write(APP, CP, req(ControlOp.REQUEST_CONTROL))
    assert submitted(v.left(APP)) == []
    assert v.left(OTHER) == []


def test_the_target_the_belt_is_told_is_what_the_app_is_told() -> None:
    v = virtual()
    out = v.on_state(replace(RUNNING, target_kmh=6.0))
    (status,) = [decode_machine_status(n.data) for n in out if isinstance(n, Notify)]
    assert (status.op, status.target_speed_kmh) == (MachineStatusOp.TARGET_SPEED_CHANGED, 6.0)


def test_the_treadmill_going_away_shows_speed_zero_and_takes_control_back() -> None:
    v = virtual()
    v.write(APP, CP, req(ControlOp.REQUEST_CONTROL))
    out = v.on_state(replace(RUNNING, treadmill_connected=False))
    data = [
        decode_treadmill_data(n.data)
        for n in out
        if isinstance(n, Notify) and n.uuid == U.TREADMILL_DATA
    ]
    assert [d.speed_kmh for d in data] == [0.0]
    statuses = [
        decode_machine_status(n.data).op
        for n in out
        if isinstance(n, Notify) and n.uuid == U.FITNESS_MACHINE_STATUS
    ]
    assert statuses == [MachineStatusOp.CONTROL_PERMISSION_LOST]
    assert answers(v.write(APP, CP, req(ControlOp.SET_TARGET_SPEED, target_speed_kmh=5.0))) == [
        (0x02, ResultCode.CONTROL_NOT_PERMITTED)
    ]
    v.on_state(RUNNING)  # back: the app asks again, as apps do after 0xFF
    assert answers(v.write(APP, CP, req(ControlOp.REQUEST_CONTROL))) == [(0x00, 0x01)]


RECORDS = st.fixed_dictionaries(
    {
        "speed_kmh": st.integers(0, 2000).map(lambda c: c / 100),
        "avg_speed_kmh": st.none() | st.integers(0, 2000).map(lambda c: c / 100),
        "distance_m": st.none() | st.integers(0, 0xFFFFFF),
        "incline_pct": st.none() | st.integers(-100, 150).map(lambda t: t / 10),
        "energy_kcal": st.none() | st.integers(0, 0xFFFE),
        "heart_rate_bpm": st.none() | st.integers(30, 220),
        "elapsed_s": st.none() | st.integers(0, 0xFFFE),
    }
).map(lambda fields: TreadmillData(**fields))  # type: ignore[arg-type]


@given(RECORDS)
def test_every_record_reaches_the_app_whole_in_notifications_that_fit(
    record: TreadmillData,
) -> None:
    """Whatever the record, its frames fit a default-MTU notification and an app that
    joins "More Data" frames (as our own link does) gets the same record back."""
    sent = frames(record)
    assert all(len(f) <= 20 for f in sent), [len(f) for f in sent]
    joiner = TreadmillDataJoiner()
    joined = [r for f in sent if (r := joiner.feed(decode_treadmill_data(f))) is not None]
    assert len(joined) == 1
    assert joined[0]._replace(warnings=()) == record


@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 255),
    st.none() | st.integers(0, 0xFFFF),
    st.none() | st.integers(0, 0xFFFFFFFF),
    st.booleans(),
)
def test_the_footpod_measurement_round_trips(
    speed: int, cadence: int, stride: int | None, distance: int | None, running: bool
) -> None:
    m = RscMeasurement(
        speed / 256,
        cadence,
        None if stride is None else stride / 100,
        None if distance is None else distance / 10,
        running,
    )
    assert decode_rsc_measurement(encode_rsc_measurement(m)) == m
