"""Exponential backoff with full jitter, for every reconnect loop."""

from __future__ import annotations

import random


class Backoff:
    """Delays of initial, 2x, 4x ... up to ``maximum``, each jittered down to half.

    Jitter keeps a gym full of gateways from reconnecting in lockstep after a
    broker or radio hiccup.
    """

    def __init__(
        self, initial: float = 1.0, maximum: float = 30.0, rng: random.Random | None = None
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial
        self._rng = rng or random.Random()
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt."""
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        self.attempts += 1
        return delay * self._rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        """A success: start again from the initial delay."""
        self._next = self.initial
        self.attempts = 0
