"""End-to-end fixtures: BlueZoo on a private bus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bluezoo import BlueZoo, start_bluezoo


@pytest.fixture
def bluezoo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[BlueZoo]:
    """A fresh BlueZoo; bleak and dbus-fast in this process talk to it.

    Its log is in ``tmp_path / "bluezoo.log"`` for when a test fails.
    """
    with start_bluezoo(tmp_path / "bluezoo.log") as zoo:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", zoo.bus_address)
        yield zoo
