"""One way to say what was wrong with a config, plan, scenario or command.

Every pydantic validation error in the project reaches a person as
``location: message`` (``segments[1].speed_kmh: Input should be ...``), so a
runner sees the same shape whether a plan file, the config or an MQTT
command was at fault.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError, ValidationInfo


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


def refuse_bool_for_number(model: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """A ``field_validator("*", mode="before")`` body: no true/false where a number goes.

    pydantic takes ``true`` as 1 for a float field, so ``backward_cap_kmh =
    true`` would be a 1 km/h cap; a safety limit, a plan's speed or a port is
    a number or an error.
    """
    field = model.model_fields.get(info.field_name or "")
    if not isinstance(value, bool) or field is None:
        return value
    kinds = typing.get_args(field.annotation) or (field.annotation,)
    if bool not in kinds and any(kind in (int, float) for kind in kinds):
        raise ValueError("expected a number, not true/false")
    return value
