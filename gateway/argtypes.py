"""Argument types for the command line: checked where argparse can say so in one line.

Base floor, standard library only: every command's parser is built on each
start-up, so nothing here may cost import time.
"""

from __future__ import annotations

import argparse
import math


def positive_number(text: str) -> float:
    """An argparse type: a finite number above zero (a speed-up, a rate, a timeout)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, not {text!r}")
    return value


_UNITS = {"d": 86_400.0, "w": 7 * 86_400.0, "h": 3_600.0}


def age(text: str) -> float:
    """An argparse type: an age like ``90d``, ``12w`` or ``36h``, in seconds."""
    number, unit = text[:-1], text[-1:].lower()
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if unit not in _UNITS or not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected an age like 90d, 12w or 36h, not {text!r}")
    return value * _UNITS[unit]
