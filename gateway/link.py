"""The one interface between the gateway and a device's bytes.

Two implementations: the bleak adapter (``gateway.ble``) for real devices and
BlueZoo, and the simulator's in-process link for fast tests and the demo.
Both move raw characteristic values; decoding happens above, in consumers.
Callbacks must only enqueue (they run in the link's context): see
ARCHITECTURE.md rule 4.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

from .clock import Clock
from .errors import RetrogateError

DataCallback = Callable[[bytes], None]
DisconnectCallback = Callable[[], None]


class LinkError(RetrogateError):
    """A link operation failed (not connected, device went away, ATT error)."""


class Link(Protocol):
    """A connection to one BLE peripheral, by characteristic UUID."""

    @property
    def address(self) -> str:
        """The peer's address (or the simulator's name for it)."""
        ...

    @property
    def is_connected(self) -> bool:
        """True between a successful ``connect`` and the disconnect."""
        ...

    async def connect(self) -> None:
        """Connect and discover services; raises LinkError on failure."""
        ...

    async def disconnect(self) -> None:
        """Disconnect; a no-op when not connected."""
        ...

    def has_characteristic(self, uuid: str) -> bool:
        """Whether the connected peer offers this characteristic."""
        ...

    async def read(self, uuid: str) -> bytes:
        """Read a characteristic's value."""
        ...

    async def write(self, uuid: str, data: bytes) -> None:
        """Write with response: returns once the peer acknowledged the write."""
        ...

    async def subscribe(self, uuid: str, callback: DataCallback) -> None:
        """Start notifications or indications; ``callback`` gets each value."""
        ...

    async def unsubscribe(self, uuid: str) -> None:
        """Stop notifications or indications."""
        ...

    def on_disconnect(self, callback: DisconnectCallback) -> Callable[[], None]:
        """Call ``callback`` when the peer goes away; returns an unsubscribe."""
        ...


@dataclass
class ProvidedLinks:
    """Links for one station from a provider, and an optional state follower.

    ``follow_direction`` lets a simulated runner turn when the gateway says so.
    """

    treadmill: Link
    hrm: Link | None
    follow_direction: Callable[[str], None] | None = None


class LinkProvider(Protocol):
    """Makes links for stations that have no real device (the simulator)."""

    def links(
        self, station_id: str, clock: Clock, scenario: Path | None
    ) -> AbstractAsyncContextManager[ProvidedLinks]:
        """Links for ``station_id``, valid inside the context."""
        ...


PROVIDER_GROUP = "retrogate.link_providers"


def load_provider(name: str) -> LinkProvider:
    """A link provider plugged in through the ``retrogate.link_providers`` entry points."""
    for entry in entry_points(group=PROVIDER_GROUP):
        if entry.name == name:
            provider: LinkProvider = entry.load()()
            return provider
    raise LinkError(
        f"no link provider {name!r} is installed (is retrogate installed with uv sync?)"
    )
