"""The live status line says what matters, including the dangerous states."""

from __future__ import annotations

from gateway.hub import Snapshot
from gateway.safety.direction import Direction
from gateway.safety.governor import Phase
from gateway.status import format_status
from gateway.workout.engine import Progress


def test_waiting_for_the_treadmill() -> None:
    assert format_status(Snapshot("tm1")) == "tm1 waiting for the treadmill..."


def test_backward_capped_with_segment_and_hr() -> None:
    s = Snapshot(
        "tm1",
        treadmill_connected=True,
        speed_kmh=5.8,
        capped=True,
        cap_held=True,
        direction=Direction.BACKWARD,
        distance_m=312,
        elapsed_s=250,
        heart_rate_bpm=142,
        segment=Progress(2, 13, Direction.BACKWARD, "", None, 35.0, False),
        energy_kcal=48.4,
    )
    assert format_status(s) == (
        "tm1 BACKWARD 5.80 km/h cap 6.0 CAPPED | 312 m 4:10 | HR 142 | seg 3/13 35 m left | 48 kcal"
    )


def test_no_control_and_halt_are_shown() -> None:
    s = Snapshot(
        "tm1",
        treadmill_connected=True,
        capped=True,
        cap_held=False,
        direction=Direction.BACKWARD,
        phase=Phase.HALTED,
    )
    line = format_status(s)
    assert "(NO CONTROL)" in line
    assert "[halted]" in line


def test_an_app_on_the_bridge_and_its_last_ask_are_shown() -> None:
    s = Snapshot("tm1", treadmill_connected=True, app="Zwift", app_asked="speed 9 km/h: capped")
    assert format_status(s).endswith("| app Zwift (speed 9 km/h: capped)")
    assert "app" not in format_status(Snapshot("tm1", treadmill_connected=True))
