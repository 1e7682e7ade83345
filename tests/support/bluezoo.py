"""BlueZoo for the end-to-end tests: skip locally, fail under CI, when it is missing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from simulators.bluezoo_env import (
    CLIENT_ADAPTER,
    CLIENT_ADDRESS,
    SIM_ADAPTER,
    SIM_ADDRESS,
    BlueZoo,
    BlueZooMissing,
    adapters_powered,
    missing_parts,
)
from simulators.bluezoo_env import start_bluezoo as _start

from .services import require

__all__ = [
    "CLIENT_ADAPTER",
    "CLIENT_ADDRESS",
    "SIM_ADAPTER",
    "SIM_ADDRESS",
    "BlueZoo",
    "adapters_powered",
    "start_bluezoo",
]


@contextlib.contextmanager
def start_bluezoo(log: Path) -> Iterator[BlueZoo]:
    """BlueZoo for one test, or a skip (locally) / failure (CI) naming what is missing."""
    try:
        missing_parts()
    except BlueZooMissing as exc:
        require(False, "BlueZoo", str(exc))
    with _start(log) as running:
        yield running
