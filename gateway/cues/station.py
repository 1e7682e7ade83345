"""Cues on the gateway itself (``retrogate run --voice``): a Pi with a speaker by the treadmill.

The announcer listens to a station's hub, the same messages MQTT publishes,
so the gateway speaks even with no broker and no dashboard anywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from ..clock import Clock, LoopClock
from ..config import VoiceConfig
from ..hub import AlertMessage, HubMessage, StateMessage
from .announcer import Announcer
from .scheduler import CueScheduler
from .voice import Voice, choose

if TYPE_CHECKING:
    from ..station.runtime import StationRuntime


def listener(announcer: Announcer) -> Callable[[HubMessage], None]:
    """A hub listener that feeds the announcer (cheap: it only updates the scheduler)."""

    plans: list[object] = [None]  # the plan last handed over (by identity: cheap at 4 Hz)

    def on_message(message: HubMessage) -> None:
        if isinstance(message, StateMessage):
            snap = message.snapshot
            if snap.workout is not None and snap.workout is not plans[0]:
                plans[0] = snap.workout
                announcer.plan(snap.workout.segments)
            announcer.state(snap)
        elif isinstance(message, AlertMessage):
            alert = message.alert
            announcer.alert(alert.level.value, alert.code, alert.message, alert.facts)

    return on_message


def announcer_for(
    config: VoiceConfig, clock: Clock, voice: Voice | None = None, speedup: float = 1.0
) -> Announcer:
    """The announcer a ``[voice]`` config asks for.

    ``clock`` is the runner's: real time, even when the session runs faster
    (``--speedup``), since words take real seconds to say; ``speedup`` turns the
    session's seconds (until the next turn) into real ones.
    """
    chosen = voice or choose(config.voice, config.rate_wpm, config.record_dir)
    return Announcer(chosen, clock, CueScheduler(min_gap_s=config.min_gap_s, speedup=speedup))


def cues_output(
    config: VoiceConfig, voice: Voice | None = None, speedup: float = 1.0
) -> Callable[[list[StationRuntime]], contextlib.AbstractAsyncContextManager[object]]:
    """A service output: one announcer for the first station (one speaker, one runner)."""

    @contextlib.asynccontextmanager
    async def speaking(stations: list[StationRuntime]) -> AsyncIterator[object]:
        announcer = announcer_for(config, LoopClock(), voice, speedup)
        unsubscribe = stations[0].hub.subscribe(listener(announcer)) if stations else None
        try:
            async with announcer.running():
                yield announcer
        finally:
            if unsubscribe is not None:
                unsubscribe()

    return speaking
