"""Energy and effort estimates (sources in ENERGY.md).

ACSM metabolic equations give VO2 from speed and grade; backward movement
multiplies the forward value (no published backward equation exists, so the
multiplier is a configurable estimate: Williford 1998 measured +28 % walking,
Wright & Weyand 2001 and Rasica 2020 about +35 % running, Williford +15 % at
8 km/h). Keytel 2005 estimates energy from heart rate when the runner's
profile is known. Pure functions, no state.
"""

from __future__ import annotations

from typing import Literal

from ..safety.direction import Direction

REST_VO2 = 3.5  # ml/kg/min, one MET
WALK_MAX_M_MIN = 100.0  # ACSM walking equation holds 50-100 m/min
RUN_MIN_M_MIN = 134.0  # ACSM running equation holds above 134 m/min
BACKWARD_WALK_MULTIPLIER = 1.28
BACKWARD_RUN_MULTIPLIER = 1.25
KJ_PER_KCAL = 4.184


def acsm_vo2(speed_kmh: float, grade_pct: float = 0.0) -> float:
    """Forward VO2 in ml/kg/min.

    Between 100 and 134 m/min ACSM leaves the gait open; we blend the walking
    and running equations linearly so the estimate has no jump at a threshold.
    """
    s = max(0.0, speed_kmh) * 1000 / 60
    g = max(0.0, grade_pct) / 100  # ACSM equations are for level and uphill
    walk = REST_VO2 + 0.1 * s + 1.8 * s * g
    run = REST_VO2 + 0.2 * s + 0.9 * s * g
    if s <= WALK_MAX_M_MIN:
        return walk
    if s >= RUN_MIN_M_MIN:
        return run
    share = (s - WALK_MAX_M_MIN) / (RUN_MIN_M_MIN - WALK_MAX_M_MIN)
    return walk + (run - walk) * share


def backward_multiplier(speed_kmh: float) -> float:
    """Extra cost of moving backward, walking below 6 km/h, running above 8."""
    s = speed_kmh * 1000 / 60
    if s <= WALK_MAX_M_MIN:
        return BACKWARD_WALK_MULTIPLIER
    if s >= RUN_MIN_M_MIN:
        return BACKWARD_RUN_MULTIPLIER
    share = (s - WALK_MAX_M_MIN) / (RUN_MIN_M_MIN - WALK_MAX_M_MIN)
    return BACKWARD_WALK_MULTIPLIER + (BACKWARD_RUN_MULTIPLIER - BACKWARD_WALK_MULTIPLIER) * share


def vo2(speed_kmh: float, grade_pct: float, direction: Direction) -> float:
    """VO2 for a direction of travel."""
    forward = acsm_vo2(speed_kmh, grade_pct)
    if direction is Direction.BACKWARD:
        return forward * backward_multiplier(speed_kmh)
    return forward


def kcal_per_min_from_vo2(vo2_ml_kg_min: float, weight_kg: float) -> float:
    """About 5 kcal per litre of oxygen."""
    return vo2_ml_kg_min * weight_kg / 1000 * 5


def keytel_kcal_per_min(
    heart_rate_bpm: float, weight_kg: float, age: float, sex: Literal["male", "female"]
) -> float:
    """Keytel et al. 2005 without VO2max; valid in the exercise HR range only."""
    if sex == "male":
        kj = -55.0969 + 0.6309 * heart_rate_bpm + 0.1988 * weight_kg + 0.2017 * age
    else:
        kj = -20.4022 + 0.4472 * heart_rate_bpm - 0.1263 * weight_kg + 0.0740 * age
    return max(0.0, kj / KJ_PER_KCAL)


class EnergyMeter:
    """The gateway's own energy estimate for a session, integrated record by record.

    Keytel (heart rate) when the runner's sex is configured and a usable HR
    is there, ACSM with the backward multiplier otherwise; ``method`` says
    which produced the latest increment.
    """

    def __init__(
        self, weight_kg: float, age: float, sex: Literal["male", "female"] | None = None
    ) -> None:
        self.weight_kg = weight_kg
        self.age = age
        self.sex = sex
        self.kcal = 0.0
        self.method = "acsm"
        self._last: float | None = None

    def update(
        self,
        now: float,
        speed_kmh: float,
        incline_pct: float,
        direction: Direction,
        heart_rate_bpm: int | None,
    ) -> float:
        """Add the energy since the previous update; returns the total kcal."""
        last, self._last = self._last, now
        if last is None or now <= last or speed_kmh <= 0:
            return self.kcal
        minutes = (now - last) / 60
        if self.sex is not None and heart_rate_bpm is not None and heart_rate_bpm >= 90:
            per_min = keytel_kcal_per_min(heart_rate_bpm, self.weight_kg, self.age, self.sex)
            self.method = "keytel"
        else:
            per_min = kcal_per_min_from_vo2(vo2(speed_kmh, incline_pct, direction), self.weight_kg)
            self.method = "acsm"
        self.kcal += per_min * minutes
        return self.kcal
