"""The announcer: feeds the scheduler, says one cue at a time, never dies silently.

Inputs arrive from a hub listener (the gateway) or from MQTT messages (the
dashboard) and go straight into the pure scheduler; the announcer's one task
wakes, takes the next cue, waits for the voice to finish, and asks again. A
voice that raises is logged once and the task goes on: a runner mid-turn is
better served by the next cue than by a dead speaker task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..clock import Clock
from ..safety.actions import Facts
from ..tasks import background
from .scheduler import NO_FACTS, Cue, CueScheduler, PlannedSegment, Priority, StateLike
from .voice import Voice, unsaid

log = logging.getLogger(__name__)

HEARD = 200  # the cues kept as said (tests and diagnostics), bounded for a long session
RESTART_S = 0.5
LAST_WORDS_S = 4.0  # on the way out, a waiting safety cue ("Belt paused.") is still said


class PlannedLike(Protocol):
    """A plan segment (the plan's own, or its MQTT payload)."""

    @property
    def direction(self) -> str: ...
    @property
    def speed_kmh(self) -> float: ...
    @property
    def distance_m(self) -> float | None: ...
    @property
    def duration_s(self) -> float | None: ...
    @property
    def note(self) -> str: ...
    @property
    def hr_zone(self) -> int | None: ...
    @property
    def hr_bpm(self) -> tuple[int, int] | None: ...


@dataclass
class Heard:
    """A cue as it was said: when it started and ended (session seconds)."""

    cue: Cue
    start: float
    end: float


@dataclass
class Announcer:
    """One scheduler, one voice, one task."""

    voice: Voice
    clock: Clock
    scheduler: CueScheduler = field(default_factory=CueScheduler)
    heard: deque[Heard] = field(default_factory=lambda: deque(maxlen=HEARD))
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    # --- inputs (synchronous: called from listeners that must not block) -------------

    def state(self, s: StateLike) -> None:
        """A new state of the station."""
        self.scheduler.state(s, self.clock.now())
        self._poke()

    def alert(self, level: str, code: str, message: str, facts: Facts = NO_FACTS) -> None:
        """An alert for the runner (worded from its facts)."""
        self.scheduler.alert(level, code, message, self.clock.now(), facts)
        self._poke()

    def plan(self, segments: Sequence[PlannedLike]) -> None:
        """The active plan's segments (when it changes)."""
        self.scheduler.plan(
            [
                PlannedSegment(
                    str(s.direction), s.speed_kmh, s.distance_m, s.duration_s, s.note, _hr(s)
                )
                for s in segments
            ]
        )

    def _poke(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def drained(self) -> None:
        """Wait until every cue due has been said (or dropped) and the voice is quiet."""
        await self._idle.wait()

    # --- the task --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Announcer]:
        """Speak while inside; the current cue is cut off on the way out."""
        log.info("cues: %s", self.voice.name)
        try:
            async with background(self._supervised(), "cues"):
                try:
                    yield self
                finally:
                    await self._last_words()
        finally:
            self.scheduler.stop("the gateway stopped first")
            self._record_gone()

    async def _last_words(self) -> None:
        """A safety cue raised while stopping (the wind-down) is heard before the end."""
        self.scheduler.stop("the gateway stopped first", keep=Priority.SAFETY)
        self._record_gone()
        if not self.scheduler.waiting:
            return
        self._poke()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LAST_WORDS_S):
                await self.drained()

    def _record_gone(self) -> None:
        while self.scheduler.gone:
            cue, reason = self.scheduler.gone.pop(0)
            unsaid(self.voice, cue, reason)

    async def _supervised(self) -> None:
        while True:
            try:
                await self._speak()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cues: unexpected error; the announcer goes on")
                await asyncio.sleep(RESTART_S)  # a bug that fails at once must not spin a core

    async def _speak(self) -> None:
        while True:
            cue = self.scheduler.take(self.clock.now())
            self._record_gone()
            if cue is None:
                due = self.scheduler.next_due(self.clock.now())
                self._wake.clear()
                if not self.scheduler.waiting:
                    self._idle.set()
                if due is None:
                    await self._wake.wait()
                else:
                    with contextlib.suppress(TimeoutError):
                        async with self.clock.timeout(due - self.clock.now()):
                            await self._wake.wait()
                continue
            start = self.clock.now()
            await self.voice.say(cue)
            self.heard.append(Heard(cue, start, self.clock.now()))


def _hr(segment: PlannedLike) -> str | None:
    """A heart-rate segment's target, in words."""
    if segment.hr_bpm is not None:
        return f"{segment.hr_bpm[0]} to {segment.hr_bpm[1]}"
    return f"zone {segment.hr_zone}" if segment.hr_zone is not None else None
