"""Scripted faults: a TOML scenario of events at times or distances.

The same scenario drives the in-process link and the BlueZ peripheral, so a
bug seen over BlueZoo can be replayed in a fast test. Validation errors name
the event and field (``events[2].button: Input should be 'speed_up', ...``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.errors import RetrogateError
from gateway.safety.direction import Direction
from gateway.validation import describe


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at_s: float | None = Field(None, ge=0, description="seconds after the simulator starts")
    at_m: float | None = Field(None, ge=0, description="metres of belt travel")
    at_run_s: float | None = Field(None, ge=0, description="seconds the belt has been running")

    @model_validator(mode="after")
    def _one_trigger(self) -> _Event:
        if [self.at_s, self.at_m, self.at_run_s].count(None) != 2:
            raise ValueError("give exactly one of at_s, at_m or at_run_s")
        return self


class _Windowed(_Event):
    duration_s: float | None = Field(None, gt=0, description="how long; omitted = until the end")


class Disconnect(_Event):
    """Drop the connection (the gateway must reconnect)."""

    action: Literal["disconnect"]


class Silent(_Windowed):
    """Stay connected but send no notifications."""

    action: Literal["silent"]


class Truncated(_Event):
    """Cut the last bytes off the next treadmill data frames."""

    action: Literal["truncated"]
    count: int = Field(1, ge=1)
    cut_bytes: int = Field(2, ge=1)


class Malformed(_Event):
    """Send frames that no decoder can make sense of."""

    action: Literal["malformed"]
    count: int = Field(1, ge=1)


class Split(_Event):
    """Split the next records in two notifications with More Data."""

    action: Literal["split"]
    count: int = Field(1, ge=1)


class IgnoreSetSpeed(_Windowed):
    """Answer Set Target Speed with success and do nothing."""

    action: Literal["ignore_set_speed"]


class RevertSpeed(_Windowed):
    """After a Set Target Speed, go back to the previous target ``after_s`` later."""

    action: Literal["revert_speed"]
    after_s: float = Field(2.0, gt=0)


class RefuseControl(_Windowed):
    """Take control away (status 0xFF) and answer every request "not permitted"."""

    action: Literal["refuse_control"]


class SlowResponse(_Windowed):
    """Answer control-point requests ``delay_s`` late."""

    action: Literal["slow_response"]
    delay_s: float = Field(1.0, gt=0)


class Console(_Event):
    """Somebody presses a button on the console."""

    action: Literal["console"]
    button: Literal[
        "speed_up",
        "speed_down",
        "incline_up",
        "incline_down",
        "start",
        "stop",
        "pause",
        "pull_safety_key",
        "insert_safety_key",
    ]
    presses: int = Field(1, ge=1, le=100)


class HrContactLost(_Windowed):
    """The strap loses skin contact."""

    action: Literal["hr_contact_lost"]


class HrSilent(_Windowed):
    """The strap stops sending (battery, out of range)."""

    action: Literal["hr_silent"]


class HrSurge(_Windowed):
    """The runner tires: the heart settles ``extra_bpm`` higher for the same effort."""

    action: Literal["hr_surge"]
    extra_bpm: float = Field(40.0, gt=0, le=150)


class Turn(_Event):
    """The simulated runner turns to face the other way."""

    action: Literal["turn"]
    direction: Direction


ScenarioEvent = Annotated[
    Disconnect
    | Silent
    | Truncated
    | Malformed
    | Split
    | IgnoreSetSpeed
    | RevertSpeed
    | RefuseControl
    | SlowResponse
    | Console
    | HrContactLost
    | HrSilent
    | HrSurge
    | Turn,
    Field(discriminator="action"),
]
WindowedEvent = (
    Silent
    | IgnoreSetSpeed
    | RevertSpeed
    | RefuseControl
    | SlowResponse
    | HrContactLost
    | HrSilent
    | HrSurge
)


class Scenario(BaseModel):
    """A named list of events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "quiet"
    description: str = ""
    treadmill_rate_hz: float = Field(1.0, gt=0, le=20, description="Treadmill Data notifications")
    hr_rate_hz: float = Field(1.0, gt=0, le=20, description="Heart Rate Measurement notifications")
    events: tuple[ScenarioEvent, ...] = ()


class ScenarioError(RetrogateError, ValueError):
    """A scenario file could not be read or did not validate."""


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; errors name the file, event and field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{path}: {describe(exc, 'scenario')}") from exc
