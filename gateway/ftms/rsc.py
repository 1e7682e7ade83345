"""Running Speed and Cadence (RSC 1.0): the footpod's measurement and feature.

Garmin watches and Zwift Companion pair a footpod, not an FTMS treadmill, so
the bridge offers one. Cadence is a mandatory field of the measurement; a
gateway without a cadence source sends 0 (the spec has no "absent" value).
"""

from __future__ import annotations

import struct
from enum import IntFlag
from typing import NamedTuple

from .errors import FtmsDecodeError, FtmsEncodeError


class RscFlag(IntFlag):
    """RSC Measurement flags."""

    STRIDE_LENGTH = 0x01
    TOTAL_DISTANCE = 0x02
    RUNNING = 0x04  # walking or running status: set while running


class RscFeature(IntFlag):
    """RSC Feature bits."""

    STRIDE_LENGTH = 0x01
    TOTAL_DISTANCE = 0x02
    WALKING_RUNNING_STATUS = 0x04
    CALIBRATION = 0x08
    MULTIPLE_LOCATIONS = 0x10


class RscMeasurement(NamedTuple):
    """One RSC Measurement: speed in m/s (1/256 resolution), cadence per minute."""

    speed_mps: float
    cadence_spm: int = 0
    stride_m: float | None = None
    distance_m: float | None = None
    running: bool | None = None  # None: not reported (the feature says so)


def encode_rsc_measurement(m: RscMeasurement) -> bytes:
    """Encode an RSC Measurement (0x2A53)."""
    speed = round(m.speed_mps * 256)
    if not 0 <= speed <= 0xFFFF:
        raise FtmsEncodeError(f"speed: {m.speed_mps!r} m/s is outside 0..255.99")
    if not 0 <= m.cadence_spm <= 0xFF:
        raise FtmsEncodeError(f"cadence: {m.cadence_spm!r} is outside 0..255")
    flags = RscFlag(0)
    out = bytearray()
    out += struct.pack("<HB", speed, m.cadence_spm)
    if m.stride_m is not None:
        flags |= RscFlag.STRIDE_LENGTH
        out += struct.pack("<H", min(round(m.stride_m * 100), 0xFFFF))
    if m.distance_m is not None:
        flags |= RscFlag.TOTAL_DISTANCE
        out += struct.pack("<I", min(round(m.distance_m * 10), 0xFFFFFFFF))
    if m.running:
        flags |= RscFlag.RUNNING
    return bytes([flags]) + bytes(out)


def decode_rsc_measurement(data: bytes) -> RscMeasurement:
    """Decode an RSC Measurement (0x2A53)."""
    if len(data) < 4:
        raise FtmsDecodeError("RSC measurement", f"{len(data)} bytes, at least 4 expected")
    flags = RscFlag(data[0] & 0x07)
    speed, cadence = struct.unpack_from("<HB", data, 1)
    at = 4
    stride = distance = None
    try:
        if flags & RscFlag.STRIDE_LENGTH:
            (raw,) = struct.unpack_from("<H", data, at)
            stride, at = raw / 100, at + 2
        if flags & RscFlag.TOTAL_DISTANCE:
            (raw,) = struct.unpack_from("<I", data, at)
            distance, at = raw / 10, at + 4
    except struct.error:
        detail = f"{len(data)} bytes, flags 0x{data[0]:02x}"
        raise FtmsDecodeError("RSC measurement", detail) from None
    return RscMeasurement(speed / 256, cadence, stride, distance, bool(flags & RscFlag.RUNNING))


def encode_rsc_feature(feature: RscFeature) -> bytes:
    """Encode RSC Feature (0x2A54)."""
    return struct.pack("<H", int(feature))
