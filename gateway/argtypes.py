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
