"""Fixed-width little-endian fields shared by every characteristic's codec.

Formats are single letters: ``B`` uint8, ``H`` uint16, ``h`` sint16,
``T`` uint24 (FTMS distances and step counts; ``struct`` has no 3-byte code).
"""

from __future__ import annotations

from .errors import FtmsEncodeError

SIZES = {"B": 1, "H": 2, "h": 2, "T": 3}
LIMITS = {"B": (0, 0xFF), "H": (0, 0xFFFF), "h": (-0x8000, 0x7FFF), "T": (0, 0xFFFFFF)}


def read(fmt: str, data: bytes, offset: int) -> int:
    """Read one field; the caller has checked that its bytes are there."""
    size = SIZES[fmt]
    return int.from_bytes(data[offset : offset + size], "little", signed=fmt == "h")


def write(fmt: str, raw: int) -> bytes:
    """Write one field; the caller has checked the range (see ``units.to_raw``)."""
    return raw.to_bytes(SIZES[fmt], "little", signed=fmt == "h")


def read_all(
    fmts: str, data: bytes, offset: int, names: tuple[str, ...] = ()
) -> tuple[list[int], list[str]]:
    """Read fields in order until the data ends, saying which were missing.

    Returns the values read and warnings for a truncated frame or trailing bytes.
    """
    values: list[int] = []
    for i, fmt in enumerate(fmts):
        size = SIZES[fmt]
        if offset + size > len(data):
            what = names[i] if i < len(names) else f"field {i + 1}"
            return values, [
                f"truncated: {what} needs bytes {offset}..{offset + size - 1} "
                f"but the frame has {len(data)} bytes"
            ]
        values.append(read(fmt, data, offset))
        offset += size
    if offset < len(data):
        return values, [f"{len(data) - offset} trailing bytes ignored"]
    return values, []


def hex_bytes(data: bytes) -> str:
    """Bytes as spaced hex, the form users paste into bug reports."""
    return data.hex(" ")


def write_all(fmts: str, values: list[int]) -> bytes:
    """Write raw parameter values, refusing one outside its field's range."""
    out = b""
    for fmt, value in zip(fmts, values, strict=True):
        low, high = LIMITS[fmt]
        if not low <= value <= high:
            raise FtmsEncodeError(f"parameter: {value!r} is outside {low}..{high}")
        out += write(fmt, value)
    return out
