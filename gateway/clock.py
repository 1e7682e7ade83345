"""Session time: the event loop's clock, optionally running faster.

Everything that waits or timestamps (the simulator's physics, control-point
timeouts, the workout engine) asks a :class:`Clock` instead of ``time`` so a
demo can run 60x faster and a test can fast-forward the loop (``looptime``)
without any code knowing. Pure code never holds a clock: it is handed ``now``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Clock(Protocol):
    """Monotonic session seconds and the matching waits."""

    def now(self) -> float:
        """Seconds on this clock (monotonic, arbitrary origin)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    def timeout(self, seconds: float) -> asyncio.Timeout:
        """``asyncio.timeout`` measured in this clock's seconds."""
        ...


class LoopClock:
    """The running loop's ``time()``, scaled by ``speedup`` (1 = real time)."""

    def __init__(self, speedup: float = 1.0) -> None:
        if not speedup > 0:
            raise ValueError(f"speedup must be positive, not {speedup!r}")
        self.speedup = speedup
        self._origin: float | None = None

    def now(self) -> float:
        loop_now = asyncio.get_running_loop().time()
        if self._origin is None:
            self._origin = loop_now
        return self._origin + (loop_now - self._origin) * self.speedup

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speedup)

    def timeout(self, seconds: float) -> asyncio.Timeout:
        return asyncio.timeout(seconds / self.speedup)
