"""Plans from outside (issue 27): ``plans import`` of a .zwo file and of intervals.icu's
planned workouts, and an imported workout run on the simulator to its end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.clock import LoopClock
from gateway.config import Settings
from gateway.ftms import ControlOp, ControlPointRequest
from gateway.platforms.accounts import Accounts
from gateway.service import RunOptions, Service
from gateway.store.db import SessionStore
from gateway.workout.plan import Plan, load_plan_file
from tests.support.platforms import IntervalsDouble

SAMPLES = Path(__file__).resolve().parents[1] / "workouts"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A runner with a 5:00 /km threshold pace; returns their plans folder."""
    plans = tmp_path / "plans"
    monkeypatch.setenv("RETROGATE_PLANS_DIR", str(plans))
    monkeypatch.setenv("RETROGATE_RUNNER__THRESHOLD_PACE", "5:00")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return plans


def test_import_a_zwo_file_into_the_plans_folder_with_its_warnings(
    runner: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plans", "import", str(SAMPLES / "retro-steady.zwo")]) == 0
    out = capsys.readouterr().out
    saved = runner / "retro-steady.toml"
    assert f"saved as {saved}: `retrogate run --plan retro-steady`" in out
    plan = load_plan_file(saved)
    assert plan.name == "Retro steady"
    assert "<< backward  5.4 km/h" in out
    assert "Warnings:" not in out  # five minutes forward first, 40 s stretches under the cap
    assert main(["plans", "import", str(SAMPLES / "retro-steady.zwo")]) == 1
    assert "exists (--force replaces it)" in capsys.readouterr().err


def test_an_imported_backward_step_over_the_cap_is_warned_about(
    runner: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fast = tmp_path / "fast.zwo"
    fast.write_text(
        "<workout_file><name>Fast retro</name><sportType>run</sportType><workout>"
        '<SteadyState Duration="60" Power="0.6"><textevent timeoffset="0" message="Backward!"/>'
        "</SteadyState></workout></workout_file>"
    )
    assert main(["plans", "import", str(fast)]) == 0
    out = capsys.readouterr().out
    assert "segments[0]: 7.2 km/h backward will be capped at 6.0 km/h" in out
    assert "segments[0]: backward after 0 min forward: warm up forward" in out
    assert "segments[0]: backward for 120 m, longer than the 100 m recommended" in out


def test_a_bad_file_is_one_line_and_nothing_is_saved(
    runner: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.zwo"
    bad.write_text('<workout_file><workout><SteadyState Duration="60"/></workout></workout_file>')
    assert main(["plans", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {bad}: workout/SteadyState[1]: Power: missing (expected a number)\n"
    assert not runner.exists()


def test_import_the_days_planned_run_from_intervals_and_skip_the_ride(
    runner: Path,
    intervals: IntervalsDouble,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RETROGATE_UPLOAD__INTERVALS_URL", intervals.base)
    Accounts(Settings().data_dir).save("intervals", {"api_key": intervals.api_key})
    day = "2026-12-08"
    intervals.plan(day, "Distance builder", (SAMPLES / "distance-builder.zwo").read_text())
    intervals.plan(day, "Sweet spot", "<workout_file/>", sport="Ride")
    intervals.plan("2026-12-09", "Tomorrow's run", (SAMPLES / "retro-steady.zwo").read_text())
    assert main(["plans", "import", "intervals", "--date", day]) == 0
    out = capsys.readouterr().out
    assert "skipped intervals.icu 2026-12-08 'Sweet spot': a Ride workout" in out
    assert sorted(p.name for p in runner.iterdir()) == ["distance-builder.toml"]
    plan = load_plan_file(runner / "distance-builder.toml")
    assert [s.distance_m for s in plan.segments if s.direction.value == "backward"] == [50, 60, 60]


@pytest.fixture(params=["retro-steady.zwo", "retro-intervals.zwo", "distance-builder.zwo",
                        "intervals"])  # fmt: skip
def imported(
    request: pytest.FixtureRequest,
    runner: Path,
    intervals: IntervalsDouble,
    monkeypatch: pytest.MonkeyPatch,
) -> Plan:
    """A workout imported as the runner would: from a file, or from intervals.icu."""
    if request.param == "intervals":
        monkeypatch.setenv("RETROGATE_UPLOAD__INTERVALS_URL", intervals.base)
        Accounts(Settings().data_dir).save("intervals", {"api_key": intervals.api_key})
        text = (SAMPLES / "retro-intervals.zwo").read_text()
        intervals.plan("2026-12-08", "Coach's retro intervals", text)
        assert main(["plans", "import", "intervals", "--date", "2026-12-08"]) == 0
    else:
        assert main(["plans", "import", str(SAMPLES / request.param)]) == 0
    (saved,) = runner.iterdir()
    return load_plan_file(saved)


@pytest.mark.looptime
@pytest.mark.slow
async def test_an_imported_workout_runs_on_the_simulator_to_its_end(
    tmp_path: Path, imported: Plan
) -> None:
    plan = imported
    writes: list[ControlPointRequest] = []
    settings = Settings(gateway_id="gw", data_dir=tmp_path / "data", mqtt={"broker": "none"})
    options = RunOptions(
        plan=plan,
        sim=True,
        duration_s=plan.total_s * 1.2 + 300,  # turnarounds and ramps take a little longer
        status_line=False,
        on_write=lambda _, request: writes.append(request),
    )
    service = Service(settings, options, LoopClock())
    await service.run()
    session = service.report()[0].session
    assert session is not None
    store = SessionStore.in_dir(settings.data_dir)
    try:
        events = [(kind, json.loads(body)) for _, kind, body in store.iter_events(session)]
    finally:
        store.close()
    assert any(kind == "alert" and body["code"] == "plan_done" for kind, body in events)
    segments = [body["index"] for kind, body in events if kind == "segment"]
    assert max(segments) == len(plan.segments) - 1
    targets = {r.target_speed_kmh for r in writes if r.op is ControlOp.SET_TARGET_SPEED}
    for segment in plan.segments:  # every step's speed reached the belt (none is over the cap)
        assert segment.speed_kmh in targets, (segment, sorted(t for t in targets if t))
