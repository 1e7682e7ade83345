"""One way to say what was wrong with a config, plan, scenario or command.

Every pydantic validation error in the project reaches a person as
``location: message`` (``segments[1].speed_kmh: Input should be ...``), so a
runner sees the same shape whether a plan file, the config or an MQTT
command was at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import ValidationError


def location(loc: Sequence[int | str]) -> str:
    """``("segments", 1, "speed_kmh")`` as ``segments[1].speed_kmh``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def describe(
    exc: ValidationError,
    whole: str = "payload",
    prefix: Callable[[Sequence[int | str]], str] = lambda _: "",
) -> str:
    """All problems, ``; ``-separated; ``prefix`` may add e.g. a line number."""
    return "; ".join(
        f"{prefix(err['loc'])}{location(err['loc']) or whole}: {err['msg']}" for err in exc.errors()
    )
