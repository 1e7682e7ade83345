"""What a service said about an upload, and when to ask again: pure, no I/O.

Each client turns the service's answer into one of these; the uploader
turns them into the queue's states. Keeping the two apart lets the rules
of waiting (backoff, Strava's rate-limit windows) be tested without a network.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

BACKOFF_FIRST_S = 30.0
BACKOFF_MAX_S = 3600.0
POLL_S = 1.0  # Strava: "a one-second or longer polling interval is recommended"
WINDOW_S = 15 * 60  # Strava's short rate-limit window, aligned to the quarter hour
DAY_S = 86_400
MARGIN_S = 5.0  # after a reset: the service's clock and ours differ a little


@dataclass(frozen=True, slots=True)
class Done:
    """The activity exists (made now, or found as the one a duplicate points at)."""

    link: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Processing:
    """The service took the file and is still making it an activity."""

    remote_id: str


@dataclass(frozen=True, slots=True)
class Retry:
    """Not now (offline, 5xx, 429): ask again later; ``after_s`` when the service said."""

    reason: str
    after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """The service refused the file for good, in its own words."""

    message: str


@dataclass(frozen=True, slots=True)
class Unauthorized:
    """The saved authorization does not work any more: the runner must connect again."""

    message: str


Outcome = Done | Processing | Retry | Refused | Unauthorized


def backoff_s(attempts: int) -> float:
    """30 s, 1 min, 2 min, ... at most an hour: a network that is down for a day is
    asked 24 times an hour, not thousands of times."""
    return min(BACKOFF_FIRST_S * 2.0 ** max(attempts - 1, 0), BACKOFF_MAX_S)


def _pair(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    try:
        short, daily = (int(part) for part in value.split(","))
    except ValueError:
        return None
    return short, daily


def strava_wait_s(now: float, headers: Mapping[str, str]) -> float:
    """How long to wait after Strava said 429 (or its usage reached its limit).

    Strava's windows are not sliding: the 15-minute limit resets at 0, 15, 30
    and 45 past the hour, the daily one at midnight UTC; its answer says the
    limits and the usage (``X-RateLimit-Limit: 200,2000`` and
    ``X-RateLimit-Usage: 200,1730``) and no reset time. A spent daily limit
    waits for midnight; anything else for the next quarter hour.
    """
    limit = _pair(headers.get("x-ratelimit-limit"))
    usage = _pair(headers.get("x-ratelimit-usage"))
    if limit is not None and usage is not None and usage[1] >= limit[1]:
        return math.floor(now / DAY_S + 1) * DAY_S - now + MARGIN_S
    return math.floor(now / WINDOW_S + 1) * WINDOW_S - now + MARGIN_S


def strava_spent(headers: Mapping[str, str]) -> bool:
    """The answer's usage has reached a limit: the next request would be a 429."""
    limit = _pair(headers.get("x-ratelimit-limit"))
    usage = _pair(headers.get("x-ratelimit-usage"))
    if limit is None or usage is None:
        return False
    return usage[0] >= limit[0] or usage[1] >= limit[1]


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """A ``Retry-After`` in seconds, if the service sent one (intervals.icu may)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def why(exc: Exception) -> str:
    """A transport error in words, without the URL (which can carry query values)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
