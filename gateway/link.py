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
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

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


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """What a provider needs to know about one station's devices."""

    station_id: str
    treadmill: str  # an address ("AA:BB:…") or a provider's scheme ("sim", "sim:2")
    hrm: str | None = None


@dataclass(frozen=True, slots=True)
class LinkContext:
    """What every provider is given: the clock, the adapter, a simulator's scenario."""

    clock: Clock
    adapter: str = "hci0"
    scenario: Path | None = None
    profile: str | None = None  # a simulator's machine (``run --sim --profile``)


@dataclass
class ProvidedLinks:
    """Links for one station from a provider.

    ``listener``, when given, is subscribed to the station's hub: it hears
    what the runner hears (a simulated runner turns when told to).
    """

    treadmill: Link
    hrm: Link | None
    listener: Callable[[Any], None] | None = None


class LinkProvider(Protocol):
    """Makes the links of one station: Bluetooth (bleak), the simulator, or a plug-in."""

    def links(self, spec: LinkSpec, ctx: LinkContext) -> AbstractAsyncContextManager[ProvidedLinks]:
        """Links for the station, valid inside the context."""
        ...


PROVIDER_GROUP = "retrogate.link_providers"
BUILTIN = {"ble": "gateway.ble.provider:BleProvider"}  # plug-ins come by entry point


def provider_name(address: str, forced: str | None = None) -> str:
    """Which provider serves a station: ``forced`` (``run --sim``), else the simulator for
    an address that names it ("sim", "sim2"), else Bluetooth. One place, as bleak picks
    its backend."""
    if forced is not None:
        return forced
    return "sim" if address.lower().startswith("sim") else "ble"


def load_provider(name: str) -> LinkProvider:
    """The provider called ``name``: built in, or plugged in by entry point."""
    target = BUILTIN.get(name)
    if target is not None:
        module, _, attr = target.partition(":")
        provider: LinkProvider = getattr(import_module(module), attr)()
        return provider
    for entry in entry_points(group=PROVIDER_GROUP):
        if entry.name == name:
            plugged: LinkProvider = entry.load()()
            return plugged
    raise LinkError(
        f"no link provider {name!r} is installed (is retrogate installed with uv sync?)"
    )


def open_links(
    spec: LinkSpec, ctx: LinkContext, forced: str | None = None
) -> AbstractAsyncContextManager[ProvidedLinks]:
    """The station's links, from the provider its address (or ``forced``) names."""
    return load_provider(provider_name(spec.treadmill, forced)).links(spec, ctx)
