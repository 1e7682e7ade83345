"""The dashboard's voice (``retrogate dashboard --voice``): cues from MQTT, on any machine.

A laptop or a phone-tethered tablet behind the treadmill speaks the same cues
the gateway would, from the same messages: the state, the alerts and the
plan. One station is followed (one runner, one speaker): the one asked for,
else the first seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from gateway.clock import LoopClock
from gateway.config import VoiceConfig
from gateway.contract.payloads import AlertPayload, StatePayload, WorkoutPayload
from gateway.cues.announcer import Announcer
from gateway.cues.station import announcer_for
from gateway.cues.voice import Bell, Voice, choose


class DashboardVoice:
    """Feeds one station's messages to an announcer."""

    def __init__(
        self,
        config: VoiceConfig,
        station: str | None,
        bell: Callable[[], None],
        voice: Voice | None = None,
    ) -> None:
        chosen = voice or choose(config.voice, config.rate_wpm, config.record_dir)
        if isinstance(chosen, Bell):
            chosen = Bell(ring=bell)  # the terminal belongs to Textual: ring through it
        self.announcer: Announcer = announcer_for(config, LoopClock(), chosen)
        self.station = station

    def observe(self, station: str, message: object) -> None:
        """A message the dashboard read (the fleet's observer)."""
        if self.station is None:
            self.station = station
        if station != self.station:
            return
        if isinstance(message, StatePayload):
            self.announcer.state(message)
        elif isinstance(message, AlertPayload):
            self.announcer.alert(message.level, message.code, message.message, message.facts())
        elif isinstance(message, WorkoutPayload):
            self.announcer.plan(message.segments)  # retained, sent when the plan changes

    @asynccontextmanager
    async def speaking(self) -> AsyncIterator[DashboardVoice]:
        """Speak while inside."""
        async with self.announcer.running():
            yield self
