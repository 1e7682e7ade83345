"""Exact fixed-point conversion between wire integers and record values.

The wire carries integers (0.01 km/h, 0.1 %, ...). Records hold the value
``raw / scale``: a true division by a power of ten gives the float nearest to
the decimal, so 627 becomes 6.27 and never 6.2700000000000005 (what
``627 * 0.01`` gives). Encoding rounds back and refuses a value that is not a
whole number of wire units, so nothing is silently re-quantised.
"""

from __future__ import annotations

from .errors import FtmsEncodeError

# Fraction of one wire unit a value may be off and still count as exact:
# float noise from arithmetic on record values, never a real extra digit.
_EXACT = 1e-6


def to_raw(field: str, value: float, scale: int, low: int, high: int) -> int:
    """Turn a record value into its wire integer, checking resolution and range."""
    if value != value or value in (float("inf"), float("-inf")):
        raise FtmsEncodeError(f"{field}: {value!r} is not a finite number")
    scaled = value * scale
    raw = round(scaled)
    if abs(scaled - raw) > _EXACT:
        step = 1 / scale
        raise FtmsEncodeError(f"{field}: {value!r} is not a multiple of {step:g}")
    if not low <= raw <= high:
        raise FtmsEncodeError(f"{field}: {value!r} is outside {low / scale:g}..{high / scale:g}")
    return raw


def centi(value: float) -> int:
    """A speed in km/h as an integer count of 0.01 km/h (for exact comparisons)."""
    return round(value * 100)
