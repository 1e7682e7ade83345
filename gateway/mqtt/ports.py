"""What the MQTT side may see of the rest of the gateway, and nothing more.

The bridge never holds a station runtime: it gets each station's hub (to
listen), a ``submit`` door (every command meets the governor there), and
the session store as an outbox (the numbered streams are sent from it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..hub import Hub
from ..safety.events import Command, RefusedCommand
from ..store.db import SessionStore, Stream
from ..store.recorder import StationRecord

EVENT_QUEUE = 10_000
Reply = tuple[str, bytes | None]  # an MQTT v5 response topic and its correlation data


@dataclass(frozen=True, slots=True)
class StationPort:
    """One station as the MQTT side sees it."""

    id: str
    hub: Hub
    submit: Callable[[Command | RefusedCommand], None]
    backward_cap_kmh: float  # the configured cap: the most Home Assistant may set
    decode_errors: Callable[[], int] = lambda: 0


class Outbox(Protocol):
    """The session store, as far as publishing goes (``store.Recorder`` is one)."""

    @property
    def records(self) -> dict[str, StationRecord]:
        """The session being recorded, per station."""

    @property
    def store(self) -> SessionStore:
        """Where the numbered streams are read from."""

    @property
    def dropped(self) -> int:
        """Messages the recorder could not keep."""

    def wall(self, at: float) -> float:
        """Wall-clock time of a session-clock instant."""

    def ack(self, record: StationRecord, stream: Stream, seq: int) -> None:
        """The broker has everything up to ``seq``."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message waiting for the connection (events, results, replies)."""

    topic: str
    payload: str | bytes
    qos: int = 1
    retain: bool = False
    correlation: bytes | None = None


class EventQueue:
    """Events, results and replies waiting for the broker: bounded, oldest dropped first."""

    def __init__(self, limit: int = EVENT_QUEUE) -> None:
        self.items: deque[Outgoing] = deque()
        self.ready = asyncio.Event()
        self.dropped = 0
        self._limit = limit

    def put(self, item: Outgoing) -> None:
        """Queue a message; never blocks (the hub's listeners call this)."""
        if len(self.items) >= self._limit:
            self.items.popleft()
            self.dropped += 1
        self.items.append(item)
        self.ready.set()

    def __len__(self) -> int:
        return len(self.items)
