"""The station as bytes: reads, control, notifications, and every scripted fault."""

from __future__ import annotations

from gateway.ftms import (
    ControlOp,
    ControlPointRequest,
    FtmsDecodeError,
    MachineStatusOp,
    ResultCode,
    TreadmillDataJoiner,
    decode_control_response,
    decode_heart_rate,
    decode_machine_status,
    decode_speed_range,
    decode_treadmill_data,
    encode_control_request,
)
from gateway.ftms import uuids as U
from simulators.scenario import Scenario
from simulators.station import Drop, Notify, Outgoing, SimulatedStation, StationSpec
from simulators.treadmill import TreadmillSpec

CP = U.FITNESS_MACHINE_CONTROL_POINT


def station(*events: dict[str, object], **spec: object) -> SimulatedStation:
    scenario = Scenario.model_validate({"events": list(events)})
    return SimulatedStation(scenario, StationSpec(**spec))  # type: ignore[arg-type]


def command(
    st: SimulatedStation, now: float, op: ControlOp, out: list[Outgoing] | None = None, **kw: object
) -> ResultCode:
    """Write one request; what the write emitted goes to ``out``."""
    request = encode_control_request(ControlPointRequest(op, **kw))  # type: ignore[arg-type]
    result = st.write("gw", CP, request, now)
    assert result.response is not None
    if out is not None:
        out += result.then
    response = decode_control_response(result.response.data)
    assert response.request_op == op
    return ResultCode(response.result)


def start(st: SimulatedStation, speed: float = 5.0, now: float = 0.0) -> list[Outgoing]:
    """Take control, set ``speed`` and start; returns every notification sent meanwhile."""
    out: list[Outgoing] = []
    assert command(st, now, ControlOp.REQUEST_CONTROL, out) is ResultCode.SUCCESS
    speed_set = command(st, now, ControlOp.SET_TARGET_SPEED, out, target_speed_kmh=speed)
    assert speed_set is ResultCode.SUCCESS
    assert command(st, now, ControlOp.START_OR_RESUME, out) is ResultCode.SUCCESS
    return out


def run(st: SimulatedStation, until: float, step: float = 0.125) -> list[Outgoing]:
    """Advance from the station's time through ``until`` (steps exact in binary)."""
    t = st.treadmill.now
    out = st.advance(t)
    while t < until - 1e-9:
        t = min(until, t + step)
        out += st.advance(t)
    return out


def frames(out: list[Outgoing], uuid: str) -> list[bytes]:
    return [o.data for o in out if isinstance(o, Notify) and o.uuid == uuid]


def test_reads_come_from_the_codec() -> None:
    st = station(treadmill=TreadmillSpec(min_kmh=0.5, max_kmh=16.0, step_kmh=0.1))
    r = decode_speed_range(st.read(U.SUPPORTED_SPEED_RANGE))
    assert (r.min_kmh, r.max_kmh, r.step_kmh) == (0.5, 16.0, 0.1)
    assert st.read(U.MANUFACTURER_NAME) == b"retrogate"


def test_thirty_minute_workout_on_an_injected_clock() -> None:
    st = station()
    out = start(st, 8.0) + run(st, 1800.0, step=0.5)
    records = [decode_treadmill_data(f) for f in frames(out, U.TREADMILL_DATA)]
    assert len(records) == 1801  # 1 Hz for 30 minutes, plus the one at t=0
    assert records[-1].speed_kmh == 8.0
    assert records[-1].elapsed_s == 1800
    assert records[-1].distance_m is not None
    assert 3950 < records[-1].distance_m < 4000
    hr = [decode_heart_rate(f) for f in frames(out, U.HEART_RATE_MEASUREMENT)]
    assert len(hr) == 1801
    assert hr[-1].heart_rate_bpm > 130


def test_console_speed_up_is_announced_and_reported() -> None:
    st = station({"at_s": 20, "action": "console", "button": "speed_up", "presses": 2})
    start(st, 5.0)
    out = run(st, 25.0)
    statuses = [decode_machine_status(f) for f in frames(out, U.FITNESS_MACHINE_STATUS)]
    assert [(s.op, s.target_speed_kmh) for s in statuses] == [
        (MachineStatusOp.TARGET_SPEED_CHANGED, 6.0)
    ]
    assert decode_treadmill_data(frames(out, U.TREADMILL_DATA)[-1]).speed_kmh == 6.0


def test_truncated_and_malformed_frames() -> None:
    st = station(
        {"at_s": 1.5, "action": "truncated", "count": 2},
        {"at_s": 4.5, "action": "malformed"},
    )
    sent = frames(start(st) + run(st, 6.0), U.TREADMILL_DATA)
    assert [bool(decode_treadmill_data(f).warnings) for f in sent[:4]] == [False, False, True, True]
    try:
        decode_treadmill_data(sent[5])
        raise AssertionError("a malformed frame decoded")
    except FtmsDecodeError:
        pass
    assert decode_treadmill_data(sent[6]).warnings == ()


def test_split_records_join_to_the_whole() -> None:
    st = station({"at_s": 2.5, "action": "split"})
    sent = frames(start(st) + run(st, 3.5), U.TREADMILL_DATA)
    assert len(sent) == 5  # t=0,1,2 whole, t=3 in two parts
    parts = [decode_treadmill_data(f) for f in sent[3:]]
    assert [p.more_data for p in parts] == [True, False]
    joined = TreadmillDataJoiner()
    assert joined.feed(parts[0]) is None
    whole = joined.feed(parts[1])
    assert whole is not None
    assert whole.distance_m is not None
    assert whole.elapsed_s == 3


def test_silence_and_disconnect() -> None:
    st = station(
        {"at_s": 1.5, "action": "silent", "duration_s": 3},
        {"at_s": 6.0, "action": "disconnect"},
    )
    out = run(st, 7.0)
    times = [i for i, o in enumerate(out) if isinstance(o, Notify) and o.uuid == U.TREADMILL_DATA]
    assert len(times) == 5  # t=0,1 then silent until 4.5, then 5,6,7
    assert any(isinstance(o, Drop) for o in out)


def test_ignore_set_speed_answers_success_and_does_nothing() -> None:
    st = station({"at_s": 5, "action": "ignore_set_speed"})
    start(st, 5.0)
    run(st, 10.0)
    assert command(st, 10.0, ControlOp.SET_TARGET_SPEED, target_speed_kmh=3.0) is ResultCode.SUCCESS
    run(st, 20.0)
    assert st.treadmill.belt_kmh == 5.0


def test_revert_speed_goes_back_by_itself() -> None:
    st = station({"at_s": 5, "action": "revert_speed", "after_s": 3})
    start(st, 5.0)
    run(st, 10.0)
    command(st, 10.0, ControlOp.SET_TARGET_SPEED, target_speed_kmh=3.0)
    out = run(st, 14.0)
    statuses = [decode_machine_status(f) for f in frames(out, U.FITNESS_MACHINE_STATUS)]
    assert statuses[-1].target_speed_kmh == 5.0
    assert st.treadmill.target_kmh == 5.0


def test_refuse_control_takes_control_away_loudly() -> None:
    st = station({"at_s": 5, "action": "refuse_control", "duration_s": 10})
    start(st)
    out = run(st, 6.0)
    statuses = [decode_machine_status(f).op for f in frames(out, U.FITNESS_MACHINE_STATUS)]
    assert statuses == [MachineStatusOp.CONTROL_PERMISSION_LOST]
    assert command(st, 6.0, ControlOp.REQUEST_CONTROL) is ResultCode.CONTROL_NOT_PERMITTED
    run(st, 16.0)
    assert command(st, 16.0, ControlOp.REQUEST_CONTROL) is ResultCode.SUCCESS


def test_slow_response_is_delayed() -> None:
    st = station({"at_s": 0, "action": "slow_response", "delay_s": 1.5})
    st.advance(0.1)
    result = st.write(
        "gw", CP, encode_control_request(ControlPointRequest(ControlOp.REQUEST_CONTROL)), 0.2
    )
    assert result.delay_s == 1.5


def test_unknown_op_and_bad_parameter_answers() -> None:
    st = station()
    unknown = st.write("gw", CP, b"\x42", 0.0)
    bad = st.write("gw", CP, b"\x02\x01", 0.0)
    assert unknown.response is not None
    assert bad.response is not None
    assert decode_control_response(unknown.response.data).result is ResultCode.OP_CODE_NOT_SUPPORTED
    assert decode_control_response(bad.response.data).result is ResultCode.INVALID_PARAMETER


def test_hr_contact_lost_and_no_strap() -> None:
    st = station({"at_s": 2.5, "action": "hr_contact_lost", "duration_s": 2})
    hrs = [decode_heart_rate(f) for f in frames(run(st, 6.0), U.HEART_RATE_MEASUREMENT)]
    assert [h.contact for h in hrs] == [True, True, True, False, False, True, True]
    assert frames(run(station(with_hr=False), 3.0), U.HEART_RATE_MEASUREMENT) == []


def test_a_client_that_leaves_loses_control() -> None:
    st = station()
    start(st)
    st.client_left("gw")
    assert st.treadmill.controller is None
