"""Choosing a heart-rate source in ``retrogate pair``."""

from __future__ import annotations

from gateway.ble import Found
from gateway.commands.pair import hr_sources

TREADMILL_WITH_HR = Found("C8:FD:19:AA:BB:CC", "FS-AB12CD", -60, treadmill=True, heart_rate=True)
TREADMILL = Found("C8:FD:19:AA:BB:CD", "plain", -60, treadmill=True, heart_rate=False)
STRAP = Found("E4:11:22:33:44:55", "HRM-Pro", -70, treadmill=False, heart_rate=True)


def test_a_treadmill_with_a_receiver_is_offered_as_the_hr_source() -> None:
    """Defect: only straps were offered; `--hrm <treadmill>` failed "not found in the scan"."""
    seen = [TREADMILL_WITH_HR, STRAP]
    assert hr_sources(TREADMILL_WITH_HR, seen) == [STRAP, TREADMILL_WITH_HR]


def test_a_treadmill_without_one_is_not() -> None:
    assert hr_sources(TREADMILL, [TREADMILL, STRAP]) == [STRAP]
    assert hr_sources(TREADMILL, [TREADMILL]) == []
