"""Heart Rate Service: measurement, body sensor location, and battery level."""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

from .errors import FtmsDecodeError, FtmsEncodeError

KIND = "heart-rate"
_RR_UNIT = 1024  # RR intervals travel in 1/1024 s, so raw / 1024 is exact in binary


class HeartRate(NamedTuple):
    """One Heart Rate Measurement.

    ``contact`` is True or False only when the strap says it can detect
    contact; None means the strap does not support contact detection.
    """

    heart_rate_bpm: int
    contact: bool | None = None
    energy_kj: int | None = None
    rr_intervals_s: tuple[float, ...] = ()
    warnings: tuple[str, ...] = ()


def decode_heart_rate(data: bytes) -> HeartRate:
    """Decode Heart Rate Measurement (0x2A37)."""
    n = len(data)
    if n < 2:
        raise FtmsDecodeError(KIND, f"frame has {n} bytes, flags and a uint8 rate need 2")
    flags = data[0]
    warnings: list[str] = []
    if flags & 0x01:
        if n < 3:
            raise FtmsDecodeError(KIND, "flags announce a uint16 rate but the frame has 2 bytes")
        bpm = data[1] | data[2] << 8
        offset = 3
    else:
        bpm = data[1]
        offset = 2
    contact = bool(flags & 0x02) if flags & 0x04 else None
    energy = None
    if flags & 0x08:
        if offset + 2 <= n:
            energy = data[offset] | data[offset + 1] << 8
        else:
            warnings.append(f"truncated: energy expended needs bytes {offset}..{offset + 1}")
        offset += 2
    rr: tuple[float, ...] = ()
    if flags & 0x10 and offset < n:
        count = (n - offset) // 2
        rr = tuple([raw / _RR_UNIT for raw in struct.unpack_from(f"<{count}H", data, offset)])
        if (n - offset) % 2:
            warnings.append("odd trailing byte after the RR intervals ignored")
    elif flags & 0x10:
        warnings.append("flags announce RR intervals but none follow")
    elif offset < n:
        warnings.append(f"{n - offset} trailing bytes ignored")
    if flags & 0xE0:
        warnings.append(f"reserved flag bits 0x{flags & 0xE0:02x} set")
    return HeartRate(bpm, contact, energy, rr, tuple(warnings))


def encode_heart_rate(record: HeartRate) -> bytes:
    """Encode Heart Rate Measurement, using a uint8 rate whenever it fits."""
    bpm = record.heart_rate_bpm
    if not 0 <= bpm <= 0xFFFF:
        raise FtmsEncodeError(f"heart_rate_bpm: {bpm!r} is outside 0..65535")
    flags = 0
    body = bytearray()
    if bpm > 0xFF:
        flags |= 0x01
        body += bpm.to_bytes(2, "little")
    else:
        body.append(bpm)
    if record.contact is not None:
        flags |= 0x04 | (0x02 if record.contact else 0)
    if record.energy_kj is not None:
        if not 0 <= record.energy_kj <= 0xFFFF:
            raise FtmsEncodeError(f"energy_kj: {record.energy_kj!r} is outside 0..65535")
        flags |= 0x08
        body += record.energy_kj.to_bytes(2, "little")
    if record.rr_intervals_s:
        flags |= 0x10
        for rr in record.rr_intervals_s:
            raw = round(rr * _RR_UNIT)
            if not 0 <= raw <= 0xFFFF or abs(rr * _RR_UNIT - raw) > 1e-6:
                raise FtmsEncodeError(
                    f"rr_intervals_s: {rr!r} is not a whole number of 1/1024 s in 0..64 s"
                )
            body += raw.to_bytes(2, "little")
    return bytes((flags,)) + bytes(body)


class SensorLocation(IntEnum):
    """Body Sensor Location values."""

    OTHER = 0
    CHEST = 1
    WRIST = 2
    FINGER = 3
    HAND = 4
    EAR_LOBE = 5
    FOOT = 6


class BodySensorLocation(NamedTuple):
    """Body Sensor Location (0x2A38)."""

    location: SensorLocation | int
    warnings: tuple[str, ...] = ()


def decode_body_sensor_location(data: bytes) -> BodySensorLocation:
    """Decode Body Sensor Location."""
    data = bytes(data)
    if not data:
        raise FtmsDecodeError("body-sensor-location", "frame is empty")
    warnings = [f"{len(data) - 1} trailing bytes ignored"] if len(data) > 1 else []
    if data[0] in SensorLocation._value2member_map_:
        return BodySensorLocation(SensorLocation(data[0]), tuple(warnings))
    warnings.append(f"reserved location value {data[0]}")
    return BodySensorLocation(data[0], tuple(warnings))


def encode_body_sensor_location(record: BodySensorLocation) -> bytes:
    """Encode Body Sensor Location."""
    if not 0 <= record.location <= 0xFF:
        raise FtmsEncodeError(f"location: {record.location!r} is outside 0..255")
    return bytes((record.location,))


class BatteryLevel(NamedTuple):
    """Battery Level (0x2A19) in percent."""

    level_pct: int
    warnings: tuple[str, ...] = ()


def decode_battery_level(data: bytes) -> BatteryLevel:
    """Decode Battery Level."""
    data = bytes(data)
    if not data:
        raise FtmsDecodeError("battery-level", "frame is empty")
    warnings = [f"{len(data) - 1} trailing bytes ignored"] if len(data) > 1 else []
    if data[0] > 100:
        warnings.append(f"level {data[0]} is above 100 %")
    return BatteryLevel(data[0], tuple(warnings))


def encode_battery_level(record: BatteryLevel) -> bytes:
    """Encode Battery Level."""
    if not 0 <= record.level_pct <= 100:
        raise FtmsEncodeError(f"level_pct: {record.level_pct!r} is outside 0..100")
    return bytes((record.level_pct,))
