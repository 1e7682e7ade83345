"""The simulator as a link provider: ``retrogate run --sim`` and the demo.

Plugged in through the ``retrogate.link_providers`` entry point, so the
gateway asks for "sim" links without importing this package.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from gateway.clock import Clock
from gateway.link import ProvidedLinks
from gateway.safety.direction import Direction

from .inprocess import InProcessLink, running
from .scenario import Scenario, load_scenario
from .station import SimulatedStation, StationSpec


class SimProvider:
    """One simulated treadmill with a strap per station, in process."""

    @contextlib.asynccontextmanager
    async def links(
        self, station_id: str, clock: Clock, scenario: Path | None
    ) -> AsyncIterator[ProvidedLinks]:
        loaded = load_scenario(scenario) if scenario else Scenario()
        spec = StationSpec(treadmill_rate_hz=loaded.treadmill_rate_hz, hr_rate_hz=loaded.hr_rate_hz)
        station = SimulatedStation(loaded, spec)

        def follow(direction: str) -> None:
            station.direction = Direction(direction)

        async with running(station, clock, address=f"SIM:{station_id}") as runner:
            link = InProcessLink(runner, client=f"gateway-{station_id}")
            yield ProvidedLinks(link, link, follow)
