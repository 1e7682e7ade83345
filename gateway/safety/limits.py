"""The runner's safety settings (SAFETY.md defaults, sources in ENERGY.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ..validation import refuse_bool_for_number


def hr_max(age: float) -> float:
    """Tanaka 2001: 208 - 0.7 * age (220 - age has a 10-12 bpm SD)."""
    return 208 - 0.7 * age


def hr_zone(bpm: float | None, hr_max_bpm: float) -> int:
    """Zone 1-5 by % of HRmax (50/60/70/80/90 %); 0 when unknown or below zone 1."""
    if not bpm or hr_max_bpm <= 0:
        return 0
    return max(0, min(5, int((bpm / hr_max_bpm * 100 - 40) // 10)))


HARD_CEILING_KMH = 12.0  # no backward cap may exceed this (trained runners: 12.6 km/h)


class SafetyLimits(BaseModel):
    """Limits the governor enforces; validated so a bad config never loads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backward_cap_kmh: float = Field(6.0, gt=0, le=HARD_CEILING_KMH)
    allow_raising_cap: bool = False
    tolerance_kmh: float = Field(0.2, ge=0, le=1.0)
    escalation_s: float = Field(3.0, gt=0, le=30)
    turnaround_kmh: float = Field(2.0, ge=0, le=6.0)
    dwell_s: float = Field(5.0, ge=0, le=60)
    backward_accel_kmh_s: float = Field(0.5, gt=0, le=5.0)
    forward_accel_kmh_s: float = Field(1.0, gt=0, le=5.0)
    age: int = Field(40, ge=10, le=100)
    hr_ceiling_pct: float = Field(90.0, gt=50, le=100)
    hr_pause_pct: float = Field(95.0, gt=50, le=110)
    hr_step_kmh: float = Field(0.5, gt=0, le=3.0)
    hr_step_interval_s: float = Field(10.0, gt=0, le=120)
    hr_timeout_s: float = Field(30.0, gt=0, le=300)
    hr_expected: bool = True
    backward_walk_kmh: float = Field(3.0, gt=0, le=6.0)
    backward_segment_limit_m: float = Field(100.0, gt=0)
    data_window_s: float = Field(3.0, gt=0, le=30)
    command_ttl_s: float = Field(5.0, gt=0, le=60)
    control_retry_max_s: float = Field(30.0, gt=0)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """``backward_cap_kmh = true`` is a mistake, not a 1 km/h cap."""
        return refuse_bool_for_number(cls, value, info)

    @model_validator(mode="after")
    def _consistent(self) -> SafetyLimits:
        if self.hr_pause_pct < self.hr_ceiling_pct:
            raise ValueError("hr_pause_pct must be at least hr_ceiling_pct")
        if self.backward_walk_kmh > self.backward_cap_kmh:
            raise ValueError("backward_walk_kmh must not exceed backward_cap_kmh")
        if self.turnaround_kmh > self.backward_cap_kmh:
            raise ValueError("turnaround_kmh must not exceed backward_cap_kmh")
        return self

    @property
    def hr_max(self) -> float:
        """Tanaka: 208 - 0.7 * age."""
        return hr_max(self.age)

    @property
    def hr_ceiling_bpm(self) -> float:
        return self.hr_max * self.hr_ceiling_pct / 100

    @property
    def hr_pause_bpm(self) -> float:
        return self.hr_max * self.hr_pause_pct / 100
