"""``retrogate coach`` on a store of real simulated sessions, then ``run --sim --plan next``.

Three sessions run through the real gateway (simulator, governor, recorder,
SQLite), the middle one with a console that pushes a backward stretch over
the cap (the governor's corrections are interventions). The coach reads the
store and must explain itself in plain words, and its plan must run.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.store.db import FILENAME

pytestmark = pytest.mark.slow

WALK = """\
name = "Backward walk 3 x 50 m"
level = 1

[[segments]]
direction = "forward"
speed_kmh = 4.0
duration_s = 60
note = "Warm-up"

[[segments]]
direction = "backward"
speed_kmh = 2.0
distance_m = 50
note = "Backward walk"

[[segments]]
direction = "forward"
speed_kmh = 4.0
duration_s = 30

[[segments]]
direction = "backward"
speed_kmh = 2.0
distance_m = 50
note = "Backward walk"

[[segments]]
direction = "forward"
speed_kmh = 4.0
duration_s = 30
note = "Cool-down"
"""
CONSOLE_OVER_THE_CAP = """\
name = "console over the cap"
[[events]]
at_s = 90
action = "console"
button = "speed_up"
presses = 10
"""


def retrogate(config: Path, *args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    return result.stdout


def test_the_coach_reads_real_sessions_and_its_plan_runs(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nplans_dir = "{tmp_path / "plans"}"\n'
        '[runner]\nexperience = "new"\n'
    )
    walk = tmp_path / "walk.toml"
    walk.write_text(WALK)
    scenario = tmp_path / "console.toml"
    scenario.write_text(CONSOLE_OVER_THE_CAP)
    # The plan takes about 330 simulated seconds; 500 leave room to finish on a slow machine.
    session = ("run", "--sim", "--plan", str(walk), "--speedup", "40", "--no-mqtt", "--no-status")
    retrogate(config, *session, "--duration", "500")
    first = retrogate(config, "coach")
    assert "finished, no interventions" in first, first  # the clean session is clean
    retrogate(config, *session, "--duration", "500", "--scenario", str(scenario))
    trouble = retrogate(config, "coach")
    assert "safety intervention" in trouble, trouble
    assert "no step up after a session with trouble: the same again" in trouble, trouble
    assert "next: 6 x 50 m backward walking at 2 km/h" in trouble, trouble
    retrogate(config, *session, "--duration", "500")
    advice = retrogate(config, "coach")
    assert "finished, no interventions, heart rate under the ceiling" in advice, advice
    assert "next: 75 m stretches (longer first, speed later)" in advice, advice
    assert (tmp_path / "plans" / "next.toml").is_file()
    chart = retrogate(config, "coach", "--history")
    assert chart.count("(trouble)") == 1, chart
    assert chart.count("(ok)") == 2, chart
    ran = retrogate(
        config, "run", "--sim", "--plan", "next", "--speedup", "60", "--no-mqtt", "--no-status",
        "--duration", "120",
    )  # fmt: skip
    assert "sim:" in ran
    sessions = retrogate(config, "sessions")
    assert "Coach: 6 x 75 m backward walking at 2 km/h" in sessions, sessions


def test_clean_sessions_climb_one_rung_at_a_time_trouble_holds_a_gap_steps_back(
    tmp_path: Path,
) -> None:
    """Defect (issue 23): the coach averaged the backward speed over whole backward laps
    (the ramp, the slow-down and the dwell included): its own 6 x 50 m at 4 km/h, run
    cleanly, read back as 3.7 km/h and it proposed backward walking. Its plans, run on the
    simulator one after the other, must climb the ladder one rung at a time."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nplans_dir = "{tmp_path / "plans"}"\n'
        '[runner]\nexperience = "experienced"\n'
    )
    run_next = ("run", "--sim", "--plan", "next", "--speedup", "60", "--no-mqtt", "--no-status")
    proposals = [retrogate(config, "coach")]
    for _ in range(3):
        retrogate(config, *run_next, "--duration", "2400", timeout=180)
        proposals.append(retrogate(config, "coach"))
    wanted = [
        "6 x 50 m backward running at 4 km/h",
        "6 x 75 m backward running at 4 km/h",
        "6 x 100 m backward running at 4 km/h",
        "6 x 50 m backward running at 4.5 km/h",
    ]
    for advice, rung in zip(proposals, wanted, strict=True):
        assert f"next: {rung}" in advice, advice
    assert "at 4.0 km/h" in proposals[1], "read back at the speed it held"
    scenario = tmp_path / "console.toml"
    scenario.write_text(CONSOLE_OVER_THE_CAP.replace("at_s = 90", "at_s = 630"))  # 1st stretch
    retrogate(config, *run_next, "--duration", "2400", "--scenario", str(scenario), timeout=180)
    trouble = retrogate(config, "coach")
    assert "no step up after a session with trouble: the same again" in trouble, trouble
    assert "next: 6 x 50 m backward running at 4.5 km/h" in trouble, trouble
    store = sqlite3.connect(load_config(config).data_dir / FILENAME)  # where the runs went
    with store:
        store.execute("UPDATE sessions SET started = started - 15 * 86400")  # two weeks ago
        store.execute("DELETE FROM derived")  # what was kept of them has the old dates
    store.close()
    gap = retrogate(config, "coach")
    assert "days since then: 1 step back" in gap, gap
    assert "next: 6 x 100 m backward running at 4 km/h" in gap, gap
