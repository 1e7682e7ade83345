"""Integration fixtures: a real mosquitto per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.mosquitto import Mosquitto, running_mosquitto


@pytest.fixture
async def broker(tmp_path: Path) -> Mosquitto:  # type: ignore[misc]
    """mosquitto on a free loopback port (skips locally, fails under CI, if missing)."""
    async with running_mosquitto(tmp_path / "broker") as running:
        yield running
