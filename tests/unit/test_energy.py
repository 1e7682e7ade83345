"""The energy model against the numbers in ENERGY.md."""

from __future__ import annotations

import pytest

from gateway.safety.direction import Direction
from gateway.safety.limits import hr_max
from gateway.workout.energy import (
    EnergyMeter,
    acsm_vo2,
    backward_multiplier,
    kcal_per_min_from_vo2,
    keytel_kcal_per_min,
    vo2,
)


def test_acsm_walking_and_running_equations() -> None:
    assert acsm_vo2(4.8) == pytest.approx(3.5 + 0.1 * 80)  # walking, level
    assert acsm_vo2(4.8, 10.0) == pytest.approx(3.5 + 0.1 * 80 + 1.8 * 80 * 0.1)
    assert acsm_vo2(9.0) == pytest.approx(3.5 + 0.2 * 150)  # running
    between = acsm_vo2(7.0)  # 116.7 m/min: blended, no jump
    assert acsm_vo2(6.0) < between < acsm_vo2(8.04)


def test_backward_multiplier_is_the_published_range() -> None:
    assert backward_multiplier(4.0) == 1.28  # Williford walking
    assert backward_multiplier(10.0) == 1.25  # running 1.15-1.35
    assert vo2(4.8, 0, Direction.BACKWARD) == pytest.approx(acsm_vo2(4.8) * 1.28)
    assert vo2(4.8, 0, Direction.FORWARD) == acsm_vo2(4.8)


def test_kcal_keytel_and_hr_max() -> None:
    assert kcal_per_min_from_vo2(20.0, 70.0) == pytest.approx(7.0)
    men = (-55.0969 + 0.6309 * 150 + 0.1988 * 70 + 0.2017 * 40) / 4.184
    assert keytel_kcal_per_min(150, 70, 40, "male") == pytest.approx(men)
    assert keytel_kcal_per_min(60, 70, 40, "female") >= 0
    assert hr_max(40) == pytest.approx(180)


def test_meter_uses_keytel_only_with_a_profile_and_exercise_hr() -> None:
    acsm = EnergyMeter(70, 40)
    acsm.update(0, 5.0, 0, Direction.BACKWARD, 150)
    total = acsm.update(60, 5.0, 0, Direction.BACKWARD, 150)
    assert acsm.method == "acsm"
    assert total == pytest.approx(kcal_per_min_from_vo2(vo2(5.0, 0, Direction.BACKWARD), 70))
    keytel = EnergyMeter(70, 40, "male")
    keytel.update(0, 5.0, 0, Direction.FORWARD, 150)
    keytel.update(60, 5.0, 0, Direction.FORWARD, 150)
    assert keytel.method == "keytel"
    keytel.update(120, 5.0, 0, Direction.FORWARD, 70)  # near rest: Keytel over-predicts
    assert keytel.method == "acsm"
    assert keytel.update(180, 0.0, 0, Direction.FORWARD, 150) == keytel.kcal  # standing: nothing
