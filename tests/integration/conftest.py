"""Integration fixtures: a real mosquitto per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.support.mosquitto import Mosquitto, running_mosquitto
from tests.support.platforms import IntervalsDouble, StravaDouble, http_double


@pytest.fixture
async def broker(tmp_path: Path) -> Mosquitto:  # type: ignore[misc]
    """mosquitto on a free loopback port (skips locally, fails under CI, if missing)."""
    async with running_mosquitto(tmp_path / "broker") as running:
        yield running


@pytest.fixture(scope="module")
def platform_servers() -> Iterator[tuple[HTTPServer, HTTPServer]]:
    """Two loopback HTTP servers for a module's doubles (stopping one takes 0.5 s)."""
    with http_double() as one, http_double() as two:
        yield one, two


@pytest.fixture
def strava(platform_servers: tuple[HTTPServer, HTTPServer]) -> StravaDouble:
    """A fresh double of Strava (docs: tests/support/platforms.py)."""
    platform_servers[0].clear_all_handlers()
    return StravaDouble(platform_servers[0])


@pytest.fixture
def intervals(platform_servers: tuple[HTTPServer, HTTPServer]) -> IntervalsDouble:
    """A fresh double of intervals.icu."""
    platform_servers[1].clear_all_handlers()
    return IntervalsDouble(platform_servers[1])
