"""What a fitness machine says about itself: features, ranges, status, training status."""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from . import _wire
from .errors import FtmsDecodeError, FtmsEncodeError
from .units import to_raw

MACHINE_FEATURES = (
    "average_speed",
    "cadence",
    "total_distance",
    "inclination",
    "elevation_gain",
    "pace",
    "step_count",
    "resistance_level",
    "stride_count",
    "expended_energy",
    "heart_rate_measurement",
    "metabolic_equivalent",
    "elapsed_time",
    "remaining_time",
    "power_measurement",
    "force_on_belt_and_power_output",
    "user_data_retention",
)
TARGET_SETTINGS = (
    "speed",
    "inclination",
    "resistance",
    "power",
    "heart_rate",
    "expended_energy",
    "step_number",
    "stride_number",
    "distance",
    "training_time",
    "time_in_two_hr_zones",
    "time_in_three_hr_zones",
    "time_in_five_hr_zones",
    "indoor_bike_simulation",
    "wheel_circumference",
    "spin_down_control",
    "cadence",
)


class FitnessMachineFeature(NamedTuple):
    """Feature bits as names; a bit the spec reserves is kept as ``bit_N``."""

    machine_features: tuple[str, ...] = ()
    target_settings: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def _bit_names(value: int, table: tuple[str, ...], what: str) -> tuple[list[str], list[str]]:
    names: list[str] = []
    warnings: list[str] = []
    for bit in range(32):
        if value >> bit & 1:
            if bit < len(table):
                names.append(table[bit])
            else:
                names.append(f"bit_{bit}")
                warnings.append(f"{what}: reserved bit {bit} set")
    return names, warnings


def _bits_of(names: tuple[str, ...], table: tuple[str, ...], field: str) -> int:
    value = 0
    for name in names:
        if name in table:
            value |= 1 << table.index(name)
        elif name.startswith("bit_") and name[4:].isdigit() and int(name[4:]) < 32:
            value |= 1 << int(name[4:])
        else:
            raise FtmsEncodeError(f"{field}: unknown name {name!r}")
    return value


def decode_feature(data: bytes) -> FitnessMachineFeature:
    """Decode Fitness Machine Feature (0x2ACC): two uint32 bit fields."""
    data = bytes(data)
    if len(data) < 4:
        raise FtmsDecodeError("feature", f"frame has {len(data)} bytes, machine features need 4")
    machine, warnings = _bit_names(int.from_bytes(data[:4], "little"), MACHINE_FEATURES, "machine")
    targets: list[str] = []
    if len(data) < 8:
        warnings.append(f"truncated: target settings need bytes 4..7, frame has {len(data)}")
    else:
        targets, more = _bit_names(int.from_bytes(data[4:8], "little"), TARGET_SETTINGS, "target")
        warnings += more
        if len(data) > 8:
            warnings.append(f"{len(data) - 8} trailing bytes ignored")
    return FitnessMachineFeature(tuple(machine), tuple(targets), tuple(warnings))


def encode_feature(record: FitnessMachineFeature) -> bytes:
    """Encode Fitness Machine Feature."""
    machine = _bits_of(record.machine_features, MACHINE_FEATURES, "machine_features")
    targets = _bits_of(record.target_settings, TARGET_SETTINGS, "target_settings")
    return machine.to_bytes(4, "little") + targets.to_bytes(4, "little")


class SpeedRange(NamedTuple):
    """Supported Speed Range; every speed command must lie inside it."""

    min_kmh: float
    max_kmh: float
    step_kmh: float
    warnings: tuple[str, ...] = ()


class InclineRange(NamedTuple):
    """Supported Inclination Range."""

    min_pct: float
    max_pct: float
    step_pct: float
    warnings: tuple[str, ...] = ()


def _range_values(kind: str, fmts: str, data: bytes) -> tuple[list[int], list[str]]:
    data = bytes(data)
    values, warnings = _wire.read_all(fmts, data, 0)
    if len(values) < 3:
        raise FtmsDecodeError(kind, f"frame has {len(data)} bytes, a range needs 6")
    if values[0] > values[1]:
        warnings.append("minimum is above maximum")
    if values[2] == 0:
        warnings.append("increment is zero")
    return values, warnings


def decode_speed_range(data: bytes) -> SpeedRange:
    """Decode Supported Speed Range (0x2AD4): min, max, increment in 0.01 km/h."""
    (low, high, step), warnings = _range_values("speed-range", "HHH", data)
    return SpeedRange(low / 100, high / 100, step / 100, tuple(warnings))


def encode_speed_range(record: SpeedRange) -> bytes:
    """Encode Supported Speed Range."""
    return b"".join(
        _wire.write("H", to_raw(name, getattr(record, name), 100, 0, 0xFFFF))
        for name in ("min_kmh", "max_kmh", "step_kmh")
    )


def decode_incline_range(data: bytes) -> InclineRange:
    """Decode Supported Inclination Range (0x2AD5): sint16 min, max; uint16 step; 0.1 %."""
    (low, high, step), warnings = _range_values("incline-range", "hhH", data)
    return InclineRange(low / 10, high / 10, step / 10, tuple(warnings))


def encode_incline_range(record: InclineRange) -> bytes:
    """Encode Supported Inclination Range."""
    return (
        _wire.write("h", to_raw("min_pct", record.min_pct, 10, -0x8000, 0x7FFF))
        + _wire.write("h", to_raw("max_pct", record.max_pct, 10, -0x8000, 0x7FFF))
        + _wire.write("H", to_raw("step_pct", record.step_pct, 10, 0, 0xFFFF))
    )


class TrainingStatusCode(IntEnum):
    """Training Status values (FTMS 4.10)."""

    OTHER = 0x00
    IDLE = 0x01
    WARMING_UP = 0x02
    LOW_INTENSITY_INTERVAL = 0x03
    HIGH_INTENSITY_INTERVAL = 0x04
    RECOVERY_INTERVAL = 0x05
    ISOMETRIC = 0x06
    HEART_RATE_CONTROL = 0x07
    FITNESS_TEST = 0x08
    SPEED_OUTSIDE_CONTROL_REGION_LOW = 0x09
    SPEED_OUTSIDE_CONTROL_REGION_HIGH = 0x0A
    COOL_DOWN = 0x0B
    WATT_CONTROL = 0x0C
    MANUAL_MODE = 0x0D
    PRE_WORKOUT = 0x0E
    POST_WORKOUT = 0x0F


class TrainingStatus(NamedTuple):
    """Training Status; ``status`` stays a plain int for a value the spec reserves."""

    status: TrainingStatusCode | int
    text: str | None = None
    warnings: tuple[str, ...] = ()


def decode_training_status(data: bytes) -> TrainingStatus:
    """Decode Training Status (0x2AD3): flags, status, optional UTF-8 string."""
    data = bytes(data)
    if len(data) < 2:
        raise FtmsDecodeError("training-status", f"frame has {len(data)} bytes, needs 2")
    flags, raw = data[0], data[1]
    warnings: list[str] = []
    status: TrainingStatusCode | int = raw
    if raw in TrainingStatusCode._value2member_map_:
        status = TrainingStatusCode(raw)
    else:
        warnings.append(f"reserved status value 0x{raw:02x}")
    if flags & ~0x03:
        warnings.append(f"reserved flag bits 0x{flags & ~0x03:02x} set")
    text = None
    if flags & 0x01:
        text = data[2:].decode("utf-8", errors="replace")
        if "\ufffd" in text:
            warnings.append("status string is not valid UTF-8")
    elif len(data) > 2:
        warnings.append(f"{len(data) - 2} trailing bytes ignored")
    return TrainingStatus(status, text, tuple(warnings))


def encode_training_status(record: TrainingStatus) -> bytes:
    """Encode Training Status."""
    if not 0 <= record.status <= 0xFF:
        raise FtmsEncodeError(f"status: {record.status!r} is outside 0..255")
    if record.text is None:
        return bytes((0, record.status))
    return bytes((1, record.status)) + record.text.encode("utf-8")


class MachineStatusOp(IntEnum):
    """Fitness Machine Status op codes (FTMS 4.17)."""

    RESET = 0x01
    STOPPED_OR_PAUSED_BY_USER = 0x02
    STOPPED_BY_SAFETY_KEY = 0x03
    STARTED_OR_RESUMED_BY_USER = 0x04
    TARGET_SPEED_CHANGED = 0x05
    TARGET_INCLINE_CHANGED = 0x06
    TARGET_RESISTANCE_CHANGED = 0x07
    TARGET_POWER_CHANGED = 0x08
    TARGET_HEART_RATE_CHANGED = 0x09
    TARGETED_EXPENDED_ENERGY_CHANGED = 0x0A
    TARGETED_STEPS_CHANGED = 0x0B
    TARGETED_STRIDES_CHANGED = 0x0C
    TARGETED_DISTANCE_CHANGED = 0x0D
    TARGETED_TRAINING_TIME_CHANGED = 0x0E
    TARGETED_TIME_IN_TWO_HR_ZONES_CHANGED = 0x0F
    TARGETED_TIME_IN_THREE_HR_ZONES_CHANGED = 0x10
    TARGETED_TIME_IN_FIVE_HR_ZONES_CHANGED = 0x11
    INDOOR_BIKE_SIMULATION_CHANGED = 0x12
    WHEEL_CIRCUMFERENCE_CHANGED = 0x13
    SPIN_DOWN_STATUS = 0x14
    TARGETED_CADENCE_CHANGED = 0x15
    CONTROL_PERMISSION_LOST = 0xFF


class StopPause(IntEnum):
    """The parameter of "stopped or paused" and of the Stop or Pause request."""

    STOP = 0x01
    PAUSE = 0x02


# Parameter layout of each status op; ops without a named field below keep
# their raw integers in ``parameter``.
_STATUS_PARAMS: dict[MachineStatusOp, str] = {
    MachineStatusOp.STOPPED_OR_PAUSED_BY_USER: "B",
    MachineStatusOp.TARGET_SPEED_CHANGED: "H",
    MachineStatusOp.TARGET_INCLINE_CHANGED: "h",
    MachineStatusOp.TARGET_RESISTANCE_CHANGED: "B",
    MachineStatusOp.TARGET_POWER_CHANGED: "h",
    MachineStatusOp.TARGET_HEART_RATE_CHANGED: "B",
    MachineStatusOp.TARGETED_EXPENDED_ENERGY_CHANGED: "H",
    MachineStatusOp.TARGETED_STEPS_CHANGED: "H",
    MachineStatusOp.TARGETED_STRIDES_CHANGED: "H",
    MachineStatusOp.TARGETED_DISTANCE_CHANGED: "T",
    MachineStatusOp.TARGETED_TRAINING_TIME_CHANGED: "H",
    MachineStatusOp.TARGETED_TIME_IN_TWO_HR_ZONES_CHANGED: "HH",
    MachineStatusOp.TARGETED_TIME_IN_THREE_HR_ZONES_CHANGED: "HHH",
    MachineStatusOp.TARGETED_TIME_IN_FIVE_HR_ZONES_CHANGED: "HHHHH",
    MachineStatusOp.INDOOR_BIKE_SIMULATION_CHANGED: "hhBB",
    MachineStatusOp.WHEEL_CIRCUMFERENCE_CHANGED: "H",
    MachineStatusOp.SPIN_DOWN_STATUS: "B",
    MachineStatusOp.TARGETED_CADENCE_CHANGED: "H",
}


class MachineStatus(NamedTuple):
    """One Fitness Machine Status notification."""

    op: MachineStatusOp
    target_speed_kmh: float | None = None
    target_incline_pct: float | None = None
    stop_pause: StopPause | None = None
    parameter: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()


def decode_machine_status(data: bytes) -> MachineStatus:
    """Decode Fitness Machine Status (0x2ADA)."""
    data = bytes(data)
    if not data:
        raise FtmsDecodeError("status", "frame is empty")
    if data[0] not in MachineStatusOp._value2member_map_:
        raise FtmsDecodeError("status", f"op code 0x{data[0]:02x} is not defined")
    op = MachineStatusOp(data[0])
    values, warnings = _wire.read_all(_STATUS_PARAMS.get(op, ""), data, 1, ("parameter",))
    if not values:
        return MachineStatus(op, warnings=tuple(warnings))
    if op is MachineStatusOp.TARGET_SPEED_CHANGED:
        return MachineStatus(op, target_speed_kmh=values[0] / 100, warnings=tuple(warnings))
    if op is MachineStatusOp.TARGET_INCLINE_CHANGED:
        return MachineStatus(op, target_incline_pct=values[0] / 10, warnings=tuple(warnings))
    if op is MachineStatusOp.STOPPED_OR_PAUSED_BY_USER and values[0] in (1, 2):
        return MachineStatus(op, stop_pause=StopPause(values[0]), warnings=tuple(warnings))
    if op is MachineStatusOp.STOPPED_OR_PAUSED_BY_USER:
        warnings.append(f"stop/pause value 0x{values[0]:02x} is reserved")
    return MachineStatus(op, parameter=tuple(values), warnings=tuple(warnings))


def encode_machine_status(record: MachineStatus) -> bytes:
    """Encode Fitness Machine Status."""
    fmts = _STATUS_PARAMS.get(record.op, "")
    if record.op is MachineStatusOp.TARGET_SPEED_CHANGED and record.target_speed_kmh is not None:
        raw = [to_raw("target_speed_kmh", record.target_speed_kmh, 100, 0, 0xFFFF)]
    elif (
        record.op is MachineStatusOp.TARGET_INCLINE_CHANGED
        and record.target_incline_pct is not None
    ):
        raw = [to_raw("target_incline_pct", record.target_incline_pct, 10, -0x8000, 0x7FFF)]
    elif record.op is MachineStatusOp.STOPPED_OR_PAUSED_BY_USER and record.stop_pause is not None:
        raw = [int(record.stop_pause)]
    else:
        raw = list(record.parameter)
    if len(raw) != len(fmts):
        raise FtmsEncodeError(f"parameter: {record.op.name} takes {len(fmts)} values")
    return bytes((record.op,)) + _wire.write_all(fmts, raw)
