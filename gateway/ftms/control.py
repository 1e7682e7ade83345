"""Fitness Machine Control Point (0x2AD9): requests and their indicated responses.

Both directions are here because both sides of the link use them: the gateway
encodes requests and decodes responses, the simulator does the opposite. A
request that cannot be carried out raises an error that names the result code
a peripheral must answer with, so the simulator never invents its own rules.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from . import _wire
from .errors import FtmsDecodeError, FtmsEncodeError, UnsupportedOpCode
from .machine import StopPause
from .units import to_raw

REQUEST_KIND = "control-point"
RESPONSE_KIND = "control-response"
RESPONSE_CODE = 0x80


class ControlOp(IntEnum):
    """Control Point request op codes (FTMS 4.16.1)."""

    REQUEST_CONTROL = 0x00
    RESET = 0x01
    SET_TARGET_SPEED = 0x02
    SET_TARGET_INCLINATION = 0x03
    SET_TARGET_RESISTANCE = 0x04
    SET_TARGET_POWER = 0x05
    SET_TARGET_HEART_RATE = 0x06
    START_OR_RESUME = 0x07
    STOP_OR_PAUSE = 0x08
    SET_TARGETED_EXPENDED_ENERGY = 0x09
    SET_TARGETED_STEPS = 0x0A
    SET_TARGETED_STRIDES = 0x0B
    SET_TARGETED_DISTANCE = 0x0C
    SET_TARGETED_TRAINING_TIME = 0x0D
    SET_TARGETED_TIME_IN_TWO_HR_ZONES = 0x0E
    SET_TARGETED_TIME_IN_THREE_HR_ZONES = 0x0F
    SET_TARGETED_TIME_IN_FIVE_HR_ZONES = 0x10
    SET_INDOOR_BIKE_SIMULATION = 0x11
    SET_WHEEL_CIRCUMFERENCE = 0x12
    SPIN_DOWN_CONTROL = 0x13
    SET_TARGETED_CADENCE = 0x14


class ResultCode(IntEnum):
    """Result of a control-point procedure."""

    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_PARAMETER = 0x03
    OPERATION_FAILED = 0x04
    CONTROL_NOT_PERMITTED = 0x05


_REQUEST_PARAMS: dict[ControlOp, str] = {
    ControlOp.SET_TARGET_SPEED: "H",
    ControlOp.SET_TARGET_INCLINATION: "h",
    ControlOp.SET_TARGET_RESISTANCE: "B",
    ControlOp.SET_TARGET_POWER: "h",
    ControlOp.SET_TARGET_HEART_RATE: "B",
    ControlOp.STOP_OR_PAUSE: "B",
    ControlOp.SET_TARGETED_EXPENDED_ENERGY: "H",
    ControlOp.SET_TARGETED_STEPS: "H",
    ControlOp.SET_TARGETED_STRIDES: "H",
    ControlOp.SET_TARGETED_DISTANCE: "T",
    ControlOp.SET_TARGETED_TRAINING_TIME: "H",
    ControlOp.SET_TARGETED_TIME_IN_TWO_HR_ZONES: "HH",
    ControlOp.SET_TARGETED_TIME_IN_THREE_HR_ZONES: "HHH",
    ControlOp.SET_TARGETED_TIME_IN_FIVE_HR_ZONES: "HHHHH",
    ControlOp.SET_INDOOR_BIKE_SIMULATION: "hhBB",
    ControlOp.SET_WHEEL_CIRCUMFERENCE: "H",
    ControlOp.SPIN_DOWN_CONTROL: "B",
    ControlOp.SET_TARGETED_CADENCE: "H",
}


class InvalidParameter(FtmsDecodeError):
    """A known request whose parameter is missing or malformed (answer 0x03)."""

    def __init__(self, op: ControlOp, message: str) -> None:
        super().__init__(REQUEST_KIND, f"{op.name.lower()}: {message}")
        self.op_code = int(op)


class ControlPointRequest(NamedTuple):
    """One control-point request; only the field its op takes is set."""

    op: ControlOp
    target_speed_kmh: float | None = None
    target_incline_pct: float | None = None
    stop_pause: StopPause | None = None
    parameter: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()


def decode_control_request(data: bytes) -> ControlPointRequest:
    """Decode a control-point write.

    Raises :class:`UnsupportedOpCode` (answer 0x02) or :class:`InvalidParameter`
    (answer 0x03) when a peripheral must refuse the request.
    """
    data = bytes(data)
    if not data:
        raise FtmsDecodeError(REQUEST_KIND, "frame is empty")
    if data[0] not in ControlOp._value2member_map_:
        raise UnsupportedOpCode(REQUEST_KIND, data[0])
    op = ControlOp(data[0])
    fmts = _REQUEST_PARAMS.get(op, "")
    values, problems = _wire.read_all(fmts, data, 1, ("parameter",) * len(fmts))
    if len(values) < len(fmts):
        raise InvalidParameter(op, problems[0])
    warnings = tuple(problems)
    if op is ControlOp.SET_TARGET_SPEED:
        return ControlPointRequest(op, target_speed_kmh=values[0] / 100, warnings=warnings)
    if op is ControlOp.SET_TARGET_INCLINATION:
        return ControlPointRequest(op, target_incline_pct=values[0] / 10, warnings=warnings)
    if op is ControlOp.STOP_OR_PAUSE:
        if values[0] not in (1, 2):
            raise InvalidParameter(op, f"stop/pause value 0x{values[0]:02x} is reserved")
        return ControlPointRequest(op, stop_pause=StopPause(values[0]), warnings=warnings)
    return ControlPointRequest(op, parameter=tuple(values), warnings=warnings)


def encode_control_request(record: ControlPointRequest) -> bytes:
    """Encode a control-point request."""
    op = record.op
    fmts = _REQUEST_PARAMS.get(op, "")
    if op is ControlOp.SET_TARGET_SPEED:
        if record.target_speed_kmh is None:
            raise FtmsEncodeError("target_speed_kmh: required by set_target_speed")
        raw = [to_raw("target_speed_kmh", record.target_speed_kmh, 100, 0, 0xFFFF)]
    elif op is ControlOp.SET_TARGET_INCLINATION:
        if record.target_incline_pct is None:
            raise FtmsEncodeError("target_incline_pct: required by set_target_inclination")
        raw = [to_raw("target_incline_pct", record.target_incline_pct, 10, -0x8000, 0x7FFF)]
    elif op is ControlOp.STOP_OR_PAUSE:
        if record.stop_pause is None:
            raise FtmsEncodeError("stop_pause: required by stop_or_pause")
        raw = [int(record.stop_pause)]
    else:
        raw = list(record.parameter)
    if len(raw) != len(fmts):
        raise FtmsEncodeError(f"parameter: {op.name.lower()} takes {len(fmts)} values")
    return bytes((op,)) + _wire.write_all(fmts, raw)


class ControlPointResponse(NamedTuple):
    """The indication that answers a request: ``80 <request op> <result>``.

    Op and result stay plain ints when they are not ones the spec defines, so a
    response to an unknown request still decodes.
    """

    request_op: ControlOp | int
    result: ResultCode | int
    parameter: bytes = b""
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the peripheral carried the request out."""
        return self.result == ResultCode.SUCCESS


def decode_control_response(data: bytes) -> ControlPointResponse:
    """Decode a control-point indication."""
    data = bytes(data)
    if len(data) < 3:
        raise FtmsDecodeError(RESPONSE_KIND, f"frame has {len(data)} bytes, a response needs 3")
    if data[0] != RESPONSE_CODE:
        raise FtmsDecodeError(
            RESPONSE_KIND, f"first byte is 0x{data[0]:02x}, a response starts with 0x80"
        )
    warnings: list[str] = []
    request_op: ControlOp | int = data[1]
    if data[1] in ControlOp._value2member_map_:
        request_op = ControlOp(data[1])
    result: ResultCode | int = data[2]
    if data[2] in ResultCode._value2member_map_:
        result = ResultCode(data[2])
    else:
        warnings.append(f"reserved result code 0x{data[2]:02x}")
    return ControlPointResponse(request_op, result, data[3:], tuple(warnings))


def encode_control_response(record: ControlPointResponse) -> bytes:
    """Encode a control-point indication."""
    for name in ("request_op", "result"):
        value = getattr(record, name)
        if not 0 <= value <= 0xFF:
            raise FtmsEncodeError(f"{name}: {value!r} is outside 0..255")
    return bytes((RESPONSE_CODE, record.request_op, record.result)) + record.parameter
