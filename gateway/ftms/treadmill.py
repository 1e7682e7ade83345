"""Treadmill Data (0x2ACD): decode, encode, and join split records.

Real treadmills send frames that claim more fields than they carry, carry
bytes after the last field, or split one record across notifications. A
strict parser that drops such frames blinds the safety logic, so the decoder
keeps every field it could read and lists the problem in ``warnings``.

Decoding sits on the hot path (1-4 records a second per station, and the
governor reacts to each), so a decoder is compiled once per flags value and
frame layout: one ``struct`` unpack and one tuple build per record.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

from . import _wire
from .errors import FtmsDecodeError, FtmsEncodeError
from .units import to_raw

KIND = "treadmill-data"


class TreadmillData(NamedTuple):
    """One Treadmill Data record; a field the frame does not carry is None.

    ``speed_kmh`` is None exactly when the frame set "More Data": more parts of
    the same record follow (see :class:`TreadmillDataJoiner`).
    """

    speed_kmh: float | None = None
    avg_speed_kmh: float | None = None
    distance_m: int | None = None
    incline_pct: float | None = None
    ramp_angle_deg: float | None = None
    elevation_gain_m: float | None = None
    elevation_loss_m: float | None = None
    pace_kmmin: float | None = None
    avg_pace_kmmin: float | None = None
    energy_kcal: int | None = None
    energy_per_hour_kcal: int | None = None
    energy_per_minute_kcal: int | None = None
    heart_rate_bpm: int | None = None
    met: float | None = None
    elapsed_s: int | None = None
    remaining_s: int | None = None
    force_n: int | None = None
    power_w: int | None = None
    steps: int | None = None
    warnings: tuple[str, ...] = ()

    @property
    def more_data(self) -> bool:
        """True for a part that is not the last of a split record."""
        return self.speed_kmh is None


class _Member(NamedTuple):
    name: str
    fmt: str  # "B", "H", "h", "T" (uint24) or "P" (pace: uint8 or uint16)
    scale: int
    sentinel: int | None = None


_NA16 = 0x7FFF
_GROUPS: tuple[tuple[int, tuple[_Member, ...]], ...] = (
    (0, (_Member("speed_kmh", "H", 100),)),
    (1, (_Member("avg_speed_kmh", "H", 100),)),
    (2, (_Member("distance_m", "T", 1),)),
    (3, (_Member("incline_pct", "h", 10, _NA16), _Member("ramp_angle_deg", "h", 10, _NA16))),
    (4, (_Member("elevation_gain_m", "H", 10), _Member("elevation_loss_m", "H", 10))),
    (5, (_Member("pace_kmmin", "P", 10),)),
    (6, (_Member("avg_pace_kmmin", "P", 10),)),
    (
        7,
        (
            _Member("energy_kcal", "H", 1, 0xFFFF),
            _Member("energy_per_hour_kcal", "H", 1, 0xFFFF),
            _Member("energy_per_minute_kcal", "B", 1, 0xFF),
        ),
    ),
    (8, (_Member("heart_rate_bpm", "B", 1),)),
    (9, (_Member("met", "B", 10),)),
    (10, (_Member("elapsed_s", "H", 1),)),
    (11, (_Member("remaining_s", "H", 1),)),
    (12, (_Member("force_n", "h", 1, _NA16), _Member("power_w", "h", 1, _NA16))),
    (13, (_Member("steps", "T", 1),)),  # vendor extension on a reserved bit
)
_RESERVED_MASK = 0xC000
_PACE_BITS = 0x0060
_FIELD_INDEX = {name: i for i, name in enumerate(TreadmillData._fields)}


def _present(flags: int, bit: int) -> bool:
    # Bit 0 is inverted: a clear bit means the speed is present.
    return not flags & 1 if bit == 0 else bool(flags >> bit & 1)


def _members(flags: int, pace_bytes: int) -> list[_Member]:
    pace_fmt = "B" if pace_bytes == 1 else "H"
    out: list[_Member] = []
    for bit, members in _GROUPS:
        if _present(flags, bit):
            out.extend(m._replace(fmt=pace_fmt) if m.fmt == "P" else m for m in members)
    return out


def _reserved_warnings(flags: int) -> tuple[str, ...]:
    if flags & _RESERVED_MASK:
        return (f"reserved flag bits 0x{flags & _RESERVED_MASK:04x} set",)
    return ()


def _value(member: _Member, raw: int) -> float | int | None:
    if raw == member.sentinel:
        return None
    return raw / member.scale if member.scale != 1 else raw


class _Layout:
    """Where each field sits for one flags value; compiles its decoder on first use.

    Only frames whose length matches their flags use the compiled decoder, so
    a stream of malformed frames costs no compilation.
    """

    __slots__ = ("_decode", "flags", "members", "size")

    def __init__(self, flags: int, pace_bytes: int) -> None:
        self.flags = flags
        self.members = _members(flags, pace_bytes)
        self.size = 2 + sum(_wire.SIZES[m.fmt] for m in self.members)
        self._decode: Callable[[bytes], TreadmillData] | None = None

    def decode(self, data: bytes) -> TreadmillData:
        if self._decode is None:
            self._decode = self._compile()
        return self._decode(data)

    def _compile(self) -> Callable[[bytes], TreadmillData]:
        members = self.members
        unpacker = struct.Struct("<H" + "".join("HB" if m.fmt == "T" else m.fmt for m in members))
        names: list[str] = ["_flags"]
        exprs: dict[str, str] = {}
        for i, m in enumerate(members):
            var = f"v{i}"
            if m.fmt == "T":
                names += [var, var + "h"]
                expr = f"({var} | {var}h << 16)"
            else:
                names.append(var)
                expr = var
            if m.scale != 1:
                expr = f"{expr} / {m.scale}"
            if m.sentinel is not None:
                expr = f"(None if {var} == {m.sentinel} else {expr})"
            exprs[m.name] = expr
        values = [exprs.get(name, "None") for name in TreadmillData._fields[:-1]]
        source = (
            "def decode(data):\n"
            f"    {', '.join(names)}, = unpack(data)\n"
            f"    return new(cls, ({', '.join(values)}, warnings))\n"
        )
        namespace: dict[str, object] = {
            "unpack": unpacker.unpack,
            "new": tuple.__new__,
            "cls": TreadmillData,
            "warnings": _reserved_warnings(self.flags),
        }
        exec(source, namespace)  # generated from the constant table above, no input
        decode = namespace["decode"]
        assert callable(decode)
        return decode


# A memo of a pure function of the flags: real treadmills use one or two
# flags values, fuzzing many; the bound keeps memory flat either way.
_layout = lru_cache(maxsize=1024)(_Layout)


def _decode_lenient(data: bytes, flags: int, pace_bytes: int) -> TreadmillData:
    """Decode a frame whose length does not match its flags, keeping what is there."""
    values: list[object] = [None] * len(TreadmillData._fields)
    warnings = list(_reserved_warnings(flags))
    offset = 2
    for m in _members(flags, pace_bytes):
        size = _wire.SIZES[m.fmt]
        if offset + size > len(data):
            warnings.append(
                f"truncated: flags announce {m.name} at byte {offset} "
                f"but the frame has {len(data)} bytes"
            )
            break
        values[_FIELD_INDEX[m.name]] = _value(m, _wire.read(m.fmt, data, offset))
        offset += size
    else:
        if offset < len(data):
            warnings.append(f"{len(data) - offset} trailing bytes ignored")
    values[-1] = tuple(warnings)
    return TreadmillData._make(values)


def decode_treadmill_data(data: bytes, *, pace_bytes: int | None = None) -> TreadmillData:
    """Decode one Treadmill Data notification.

    ``pace_bytes`` is 1 (the FTMS text) or 2 (a few machines); None picks 2 only
    when the frame's length matches the 2-byte layout exactly.
    """
    n = len(data)
    if n < 2:
        raise FtmsDecodeError(KIND, f"frame has {n} bytes, flags need 2")
    flags = data[0] | data[1] << 8
    if pace_bytes is None:
        pace_bytes = 2 if flags & _PACE_BITS and n == _layout(flags, 2).size else 1
    elif pace_bytes not in (1, 2):
        raise ValueError(f"pace_bytes must be 1 or 2, not {pace_bytes!r}")
    layout = _layout(flags, pace_bytes)
    if n == layout.size:
        return layout.decode(data)
    return _decode_lenient(bytes(data), flags, pace_bytes)


def _pack(member: _Member, value: float | int) -> bytes:
    low, high = _wire.LIMITS[member.fmt]
    raw = to_raw(member.name, value, member.scale, low, high)
    if raw == member.sentinel:
        raise FtmsEncodeError(f"{member.name}: {value!r} is the 'not available' sentinel")
    return _wire.write(member.fmt, raw)


def encode_treadmill_data(record: TreadmillData, *, pace_bytes: int = 1) -> bytes:
    """Encode a record; absent fields of a present group become their sentinel."""
    if pace_bytes not in (1, 2):
        raise ValueError(f"pace_bytes must be 1 or 2, not {pace_bytes!r}")
    pace_fmt = "B" if pace_bytes == 1 else "H"
    flags = 0
    body = bytearray()
    for bit, members in _GROUPS:
        values = [getattr(record, m.name) for m in members]
        present = any(v is not None for v in values)
        if bit == 0:
            flags |= 0 if present else 1
        elif present:
            flags |= 1 << bit
        if not present:
            continue
        for m, v in zip(members, values, strict=True):
            if m.fmt == "P":
                m = m._replace(fmt=pace_fmt)
            if v is not None:
                body += _pack(m, v)
            elif m.sentinel is not None:
                body += _wire.write(m.fmt, m.sentinel)
            else:
                others = ", ".join(x.name for x in members if x is not m)
                raise FtmsEncodeError(
                    f"{m.name}: must be given with {others} (they share flag bit {bit})"
                )
    return _wire.write("H", flags) + bytes(body)


def encode_in_two(record: TreadmillData) -> list[bytes]:
    """A record as two frames, "More Data" set on the first, as treadmills send a record
    too long for one notification (speed, time and heart rate come in the last)."""
    first = record._replace(speed_kmh=None, elapsed_s=None, heart_rate_bpm=None)
    last = record._replace(avg_speed_kmh=None, distance_m=None, incline_pct=None)
    return [encode_treadmill_data(first), encode_treadmill_data(last)]


class TreadmillDataJoiner:
    """Joins the parts of a record split across notifications ("More Data").

    Feed every decoded record; a complete record comes out when the last part
    (the one carrying the speed) arrives. A later part's fields win. If a
    treadmill never sends a last part, the parts are released after
    ``max_parts`` with a warning rather than held forever.
    """

    def __init__(self, max_parts: int = 8) -> None:
        self._parts: list[TreadmillData] = []
        self._max_parts = max_parts

    def feed(self, record: TreadmillData) -> TreadmillData | None:
        """Add one part; return the joined record when it is complete."""
        if not self._parts and not record.more_data:
            return record
        self._parts.append(record)
        if record.more_data and len(self._parts) < self._max_parts:
            return None
        parts, self._parts = self._parts, []
        joined = _merge(parts)
        if record.more_data:
            note = f"no last part after {len(parts)} parts with More Data; released as is"
            joined = joined._replace(warnings=(*joined.warnings, note))
        return joined

    @property
    def pending(self) -> int:
        """How many parts are waiting for their last part."""
        return len(self._parts)


def _merge(parts: list[TreadmillData]) -> TreadmillData:
    values: list[object] = [None] * (len(TreadmillData._fields) - 1)
    warnings: list[str] = []
    for part in parts:
        for i, v in enumerate(part[:-1]):
            if v is not None:
                values[i] = v
        warnings.extend(part.warnings)
    return TreadmillData._make([*values, tuple(warnings)])
