"""Byte tables from the FTMS / HRS specs and the examples in FTMS.md."""

from __future__ import annotations

import re

import pytest

from gateway.ftms import (
    ControlOp,
    ControlPointRequest,
    ControlPointResponse,
    FtmsDecodeError,
    FtmsEncodeError,
    HeartRate,
    InvalidParameter,
    MachineStatusOp,
    ResultCode,
    SensorLocation,
    StopPause,
    TrainingStatusCode,
    TreadmillData,
    UnsupportedOpCode,
    decode_battery_level,
    decode_body_sensor_location,
    decode_control_request,
    decode_control_response,
    decode_feature,
    decode_heart_rate,
    decode_incline_range,
    decode_machine_status,
    decode_speed_range,
    decode_training_status,
    decode_treadmill_data,
    encode_control_request,
    encode_heart_rate,
    encode_treadmill_data,
    to_jsonable,
)

H = bytes.fromhex


def test_speed_range_example_from_ftms_md() -> None:
    r = decode_speed_range(H("f4 01 b8 0b 32 00"))
    assert (r.min_kmh, r.max_kmh, r.step_kmh, r.warnings) == (5.0, 30.0, 0.5, ())


def test_incline_range_signed_minimum() -> None:
    r = decode_incline_range(H("ecff 9600 0500"))  # -2.0 .. 15.0 step 0.5
    assert (r.min_pct, r.max_pct, r.step_pct) == (-2.0, 15.0, 0.5)


def test_range_too_short_is_an_error_and_odd_ranges_warn() -> None:
    with pytest.raises(FtmsDecodeError, match="a range needs 6"):
        decode_speed_range(H("f401b80b"))
    r = decode_speed_range(H("b80b f401 0000 99"))
    assert r.warnings == (
        "1 trailing bytes ignored",
        "minimum is above maximum",
        "increment is zero",
    )


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("056900", {"op": "target_speed_changed", "target_speed_kmh": 1.05}),
        ("06f4ff", {"op": "target_incline_changed", "target_incline_pct": -1.2}),
        ("0201", {"op": "stopped_or_paused_by_user", "stop_pause": "stop"}),
        ("0202", {"op": "stopped_or_paused_by_user", "stop_pause": "pause"}),
        ("03", {"op": "stopped_by_safety_key"}),
        ("04", {"op": "started_or_resumed_by_user"}),
        ("01", {"op": "reset"}),
        ("ff", {"op": "control_permission_lost"}),
        ("0d102700", {"op": "targeted_distance_changed", "parameter": [10000]}),
        ("0f3c007800", {"op": "targeted_time_in_two_hr_zones_changed", "parameter": [60, 120]}),
    ],
)
def test_machine_status_ops(frame: str, expected: dict[str, object]) -> None:
    assert to_jsonable(decode_machine_status(H(frame))) == expected


def test_every_machine_status_op_decodes() -> None:
    for op in MachineStatusOp:
        record = decode_machine_status(bytes([op]) + bytes(10))
        assert record.op is op


def test_machine_status_unknown_op_and_truncation() -> None:
    with pytest.raises(FtmsDecodeError, match="op code 0x42 is not defined"):
        decode_machine_status(H("42"))
    with pytest.raises(FtmsDecodeError, match="empty"):
        decode_machine_status(b"")
    truncated = decode_machine_status(H("0569"))
    assert truncated.target_speed_kmh is None
    assert "truncated" in truncated.warnings[0]


@pytest.mark.parametrize(
    ("frame", "record"),
    [
        ("00", ControlPointRequest(ControlOp.REQUEST_CONTROL)),
        ("01", ControlPointRequest(ControlOp.RESET)),
        ("02d204", ControlPointRequest(ControlOp.SET_TARGET_SPEED, target_speed_kmh=12.34)),
        ("03f4ff", ControlPointRequest(ControlOp.SET_TARGET_INCLINATION, target_incline_pct=-1.2)),
        ("07", ControlPointRequest(ControlOp.START_OR_RESUME)),
        ("0801", ControlPointRequest(ControlOp.STOP_OR_PAUSE, stop_pause=StopPause.STOP)),
        ("0802", ControlPointRequest(ControlOp.STOP_OR_PAUSE, stop_pause=StopPause.PAUSE)),
    ],
)
def test_control_requests_both_ways(frame: str, record: ControlPointRequest) -> None:
    assert decode_control_request(H(frame)) == record
    assert encode_control_request(record) == H(frame)


def test_control_request_refusals_name_their_result_code() -> None:
    with pytest.raises(UnsupportedOpCode) as unsupported:
        decode_control_request(H("4201"))
    assert unsupported.value.op_code == 0x42
    with pytest.raises(InvalidParameter, match="set_target_speed") as invalid:
        decode_control_request(H("02d2"))
    assert invalid.value.op_code == ControlOp.SET_TARGET_SPEED
    with pytest.raises(InvalidParameter, match="reserved"):
        decode_control_request(H("0803"))
    with pytest.raises(FtmsEncodeError, match=re.escape("target_speed_kmh: 700.0 is outside")):
        encode_control_request(
            ControlPointRequest(ControlOp.SET_TARGET_SPEED, target_speed_kmh=700.0)
        )
    with pytest.raises(FtmsEncodeError, match=re.escape("not a multiple of 0.01")):
        encode_control_request(
            ControlPointRequest(ControlOp.SET_TARGET_SPEED, target_speed_kmh=5.001)
        )


@pytest.mark.parametrize(
    ("frame", "op", "result"),
    [
        ("800505", ControlOp.SET_TARGET_POWER, ResultCode.CONTROL_NOT_PERMITTED),
        ("800201", ControlOp.SET_TARGET_SPEED, ResultCode.SUCCESS),
        ("800702", ControlOp.START_OR_RESUME, ResultCode.OP_CODE_NOT_SUPPORTED),
        ("800203", ControlOp.SET_TARGET_SPEED, ResultCode.INVALID_PARAMETER),
        ("800704", ControlOp.START_OR_RESUME, ResultCode.OPERATION_FAILED),
    ],
)
def test_control_responses(frame: str, op: ControlOp, result: ResultCode) -> None:
    response = decode_control_response(H(frame))
    assert (response.request_op, response.result, response.ok) == (op, result, result == 1)


def test_control_response_to_an_unknown_op_still_decodes() -> None:
    response = decode_control_response(H("804202"))
    assert response == ControlPointResponse(0x42, ResultCode.OP_CODE_NOT_SUPPORTED)
    with pytest.raises(FtmsDecodeError, match="starts with 0x80"):
        decode_control_response(H("020101"))


def test_heart_rate_example_from_ftms_md() -> None:
    hr = decode_heart_rate(H("16 73 10 02 0d 02"))
    assert hr == HeartRate(115, True, None, (528 / 1024, 525 / 1024))


@pytest.mark.parametrize(
    ("frame", "bpm", "contact", "energy"),
    [
        ("0048", 72, None, None),  # uint8, contact not supported
        ("0248", 72, None, None),  # detected bit without supported bit: unknown
        ("0448", 72, False, None),  # supported, not detected
        ("0648", 72, True, None),
        ("012c01", 300, None, None),  # uint16
        ("0848e803", 72, None, 1000),  # energy expended
    ],
)
def test_heart_rate_flags(frame: str, bpm: int, contact: bool | None, energy: int | None) -> None:
    hr = decode_heart_rate(H(frame))
    assert (hr.heart_rate_bpm, hr.contact, hr.energy_kj, hr.warnings) == (bpm, contact, energy, ())


def test_heart_rate_every_rr_interval_and_odd_bytes() -> None:
    frame = H("10 50") + b"".join(i.to_bytes(2, "little") for i in range(800, 809))
    assert len(decode_heart_rate(frame).rr_intervals_s) == 9
    hr = decode_heart_rate(H("10 50 00 04 01"))
    assert hr.rr_intervals_s == (1.0,)
    assert hr.warnings == ("odd trailing byte after the RR intervals ignored",)
    with pytest.raises(FtmsDecodeError, match="uint16 rate"):
        decode_heart_rate(H("0150"))


def test_heart_rate_encoder_picks_uint8_when_it_fits() -> None:
    assert encode_heart_rate(HeartRate(115, True, None, (528 / 1024, 525 / 1024))) == H(
        "16 73 10 02 0d 02"
    )
    assert encode_heart_rate(HeartRate(300)) == H("01 2c 01")


def test_sensor_location_and_battery() -> None:
    assert decode_body_sensor_location(H("01")).location is SensorLocation.CHEST
    assert decode_body_sensor_location(H("09")).warnings == ("reserved location value 9",)
    assert decode_battery_level(H("5a")).level_pct == 90
    assert decode_battery_level(H("c8")).warnings == ("level 200 is above 100 %",)


def test_feature_names_and_reserved_bits() -> None:
    # machine: average speed, total distance, inclination, expended energy, HR, elapsed time
    machine = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 9) | (1 << 10) | (1 << 12) | (1 << 20)
    targets = 0b11
    f = decode_feature(machine.to_bytes(4, "little") + targets.to_bytes(4, "little"))
    assert f.machine_features == (
        "average_speed",
        "total_distance",
        "inclination",
        "expended_energy",
        "heart_rate_measurement",
        "elapsed_time",
        "bit_20",
    )
    assert f.target_settings == ("speed", "inclination")
    assert f.warnings == ("machine: reserved bit 20 set",)
    assert decode_feature(H("01000000")).warnings[0].startswith("truncated")


def test_training_status() -> None:
    assert decode_training_status(H("000d")).status is TrainingStatusCode.MANUAL_MODE
    with_text = decode_training_status(H("0101") + b"Idle")
    assert (with_text.status, with_text.text) == (TrainingStatusCode.IDLE, "Idle")
    reserved = decode_training_status(H("0042"))
    assert (reserved.status, reserved.warnings) == (0x42, ("reserved status value 0x42",))


# --- Treadmill Data ---------------------------------------------------------

TYPICAL = TreadmillData(
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
TYPICAL_BYTES = H(
    "9e 05"  # flags: avg speed, distance, incline, elevation, energy, HR, elapsed
    "73 02"  # 6.27 km/h
    "26 02"  # 5.50 km/h
    "d2 04 00"  # 1234 m
    "0f 00 09 00"  # 1.5 %, 0.9 deg
    "7b 00 00 00"  # +12.3 m, -0.0 m
    "58 00 a4 01 07"  # 88 kcal, 420 kcal/h, 7 kcal/min
    "83"  # 131 bpm
    "84 03"  # 900 s
)


def test_typical_record_bytes_both_ways() -> None:
    assert decode_treadmill_data(TYPICAL_BYTES) == TYPICAL
    assert encode_treadmill_data(TYPICAL) == TYPICAL_BYTES


def test_exact_units_never_show_float_noise() -> None:
    record = decode_treadmill_data(H("0000 7302"))
    assert record.speed_kmh == 6.27
    assert repr(record.speed_kmh) == "6.27"
    assert to_jsonable(record) == {"speed_kmh": 6.27}


def test_more_data_bit_is_inverted() -> None:
    part = decode_treadmill_data(H("0700 2602 d20400"))  # bit0 set: no speed, more follows
    assert part.more_data
    assert (part.speed_kmh, part.avg_speed_kmh, part.distance_m) == (None, 5.5, 1234)


@pytest.mark.parametrize(
    ("frame", "absent"),
    [
        ("0800 0000 ff7f ff7f", ("incline_pct", "ramp_angle_deg")),
        (
            "8000 0000 ffff ffff ff",
            ("energy_kcal", "energy_per_hour_kcal", "energy_per_minute_kcal"),
        ),
        ("0010 0000 ff7f ff7f", ("force_n", "power_w")),
    ],
)
def test_not_available_sentinels_decode_as_absent(frame: str, absent: tuple[str, ...]) -> None:
    record = decode_treadmill_data(H(frame))
    assert all(getattr(record, name) is None for name in absent)
    assert record.speed_kmh == 0.0
    assert record.warnings == ()


def test_each_field_group_alone() -> None:
    cases = {
        "met": ("0002 f401 4b", 7.5),
        "elapsed_s": ("0004 f401 3c00", 60),
        "remaining_s": ("0008 f401 5802", 600),
        "heart_rate_bpm": ("0001 f401 96", 150),
        "steps": ("0020 f401 102700", 10000),
        "pace_kmmin": ("2000 f401 08", 0.8),
        "avg_pace_kmmin": ("4000 f401 09", 0.9),
        "power_w": ("0010 f401 1400 c800", 200),
    }
    for field, (frame, value) in cases.items():
        record = decode_treadmill_data(H(frame))
        assert getattr(record, field) == value, field
        assert record.speed_kmh == 5.0
        assert record.warnings == ()


def test_two_byte_pace_is_detected_by_length() -> None:
    one = decode_treadmill_data(H("6000 f401 08 09"))
    two = decode_treadmill_data(H("6000 f401 0800 0900"))
    assert (one.pace_kmmin, one.avg_pace_kmmin, one.warnings) == (0.8, 0.9, ())
    assert (two.pace_kmmin, two.avg_pace_kmmin, two.warnings) == (0.8, 0.9, ())
    assert encode_treadmill_data(two, pace_bytes=2) == H("6000 f401 0800 0900")


def test_truncated_frame_keeps_what_was_there() -> None:
    record = decode_treadmill_data(TYPICAL_BYTES[:-3])
    assert record.energy_kcal == 88
    assert record.heart_rate_bpm is None
    assert record.elapsed_s is None
    assert record.warnings == (
        "truncated: flags announce heart_rate_bpm at byte 22 but the frame has 22 bytes",
    )


def test_trailing_bytes_and_reserved_bits_warn() -> None:
    assert decode_treadmill_data(TYPICAL_BYTES + b"\x01\x02").warnings == (
        "2 trailing bytes ignored",
    )
    record = decode_treadmill_data(H("00c0 f401"))
    assert record.speed_kmh == 5.0
    assert record.warnings == ("reserved flag bits 0xc000 set",)


def test_too_short_for_flags_is_the_codecs_error() -> None:
    for frame in (b"", b"\x00"):
        with pytest.raises(FtmsDecodeError, match="flags need 2"):
            decode_treadmill_data(frame)


def test_encoder_refuses_what_the_wire_cannot_carry() -> None:
    with pytest.raises(FtmsEncodeError, match="elevation_loss_m: must be given with"):
        encode_treadmill_data(TreadmillData(speed_kmh=1.0, elevation_gain_m=1.0))
    with pytest.raises(FtmsEncodeError, match="sentinel"):
        encode_treadmill_data(TreadmillData(speed_kmh=1.0, incline_pct=3276.7))
    with pytest.raises(FtmsEncodeError, match="not a finite number"):
        encode_treadmill_data(TreadmillData(speed_kmh=float("nan")))
    with pytest.raises(FtmsEncodeError, match=re.escape("speed_kmh: -1.0 is outside 0..655.35")):
        encode_treadmill_data(TreadmillData(speed_kmh=-1.0))
