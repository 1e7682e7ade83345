"""What a screen may ask of the app that shows it (so screens never import the app).

The app implements this; the screens see only this, so ``app -> screens``
is the one direction of the dashboard's imports.
"""

from __future__ import annotations

from typing import Protocol

from gateway.contract.payloads import CommandName

from .model import Fleet


class Host(Protocol):
    """The dashboard app, as its screens see it."""

    fleet: Fleet
    pending: dict[str, tuple[str, str]]  # station -> (command id, label)
    broker_up: bool
    broker_text: str

    async def send(
        self,
        station: str,
        cmd: CommandName,
        value: float | str | None = None,
        label: str | None = None,
    ) -> None:
        """Send a command; its answer shows on the station screen."""

    def open_station(self, station: str) -> None:
        """Show one station's detail."""

    def open_runner(self, station: str) -> None:
        """Show the runner view of one station (big, for three metres away)."""
