"""The simulator as a link provider: ``retrogate run --sim`` and the demo.

Plugged in through the ``retrogate.link_providers`` entry point, so the
gateway asks for "sim" links without importing this package.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from gateway.hub import StateMessage
from gateway.link import LinkContext, LinkError, LinkSpec, ProvidedLinks
from gateway.safety.direction import Direction

from .inprocess import InProcessLink, running
from .scenario import Scenario, load_scenario
from .station import PROFILES, SimulatedStation, StationSpec, with_profile


class SimProvider:
    """One simulated treadmill with a strap per station, in process."""

    @contextlib.asynccontextmanager
    async def links(self, spec: LinkSpec, ctx: LinkContext) -> AsyncIterator[ProvidedLinks]:
        loaded = load_scenario(ctx.scenario) if ctx.scenario else Scenario()
        rates = StationSpec(
            treadmill_rate_hz=loaded.treadmill_rate_hz, hr_rate_hz=loaded.hr_rate_hz
        )
        if ctx.profile is not None:
            if ctx.profile not in PROFILES:
                names = ", ".join(PROFILES)
                raise LinkError(f"no simulator profile {ctx.profile!r}: one of {names}")
            rates = with_profile(rates, ctx.profile)
        station = SimulatedStation(loaded, rates)
        sid = spec.station_id
        async with running(station, ctx.clock, address=f"SIM:{sid}") as runner:
            link = InProcessLink(runner, client=f"gateway-{sid}")
            yield ProvidedLinks(link, link, _runner_turns(station))


def _runner_turns(station: SimulatedStation) -> Callable[[object], None]:
    """The simulated runner faces the way the gateway's state says (as a runner follows
    the cues): it turns once per change of direction."""
    last: list[str] = []

    def on_message(message: object) -> None:
        if not isinstance(message, StateMessage):
            return
        direction = message.snapshot.direction
        if direction not in last[-1:]:
            last[:] = [direction]
            station.direction = Direction(direction)

    return on_message
