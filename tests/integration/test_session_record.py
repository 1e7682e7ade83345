"""A session record that tells the truth, read back by a decoder we do not use.

The simulated treadmill runs a plan with the faults real machines have: the
runner stops and restarts at the console (the treadmill resets its distance,
time and energy counters), the link drops and comes back, and the strap goes
silent for two minutes. The exports are read back with ``fitdecode`` (FIT,
CRC checked) and ``xml.etree`` (TCX), and their totals are held against each
other and against what the simulated belt really did (its own odometer).
Time is fast-forwarded by looptime.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import itertools
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import fitdecode
import pytest
import xmlschema

from gateway.clock import LoopClock
from gateway.safety import SafetyLimits
from gateway.station.runtime import StationRuntime
from gateway.store.db import SessionStore
from gateway.store.export import TCX_NS, export
from gateway.store.recorder import Recorder
from gateway.store.timeline import HR_MAX_AGE_S, summarize
from gateway.workout.plan import parse_plan
from simulators.inprocess import InProcessLink, running
from simulators.scenario import Scenario
from simulators.station import SimulatedStation
from tests.support.services import require

pytestmark = [pytest.mark.looptime, pytest.mark.slow]

PLAN = parse_plan(
    """
    name = "retro walk"
    [[segments]]
    direction = "forward"
    speed_kmh = 5.0
    duration_s = 60
    note = "warm-up"
    [[segments]]
    direction = "backward"
    speed_kmh = 3.0
    distance_m = 50
    [[segments]]
    direction = "forward"
    speed_kmh = 5.0
    duration_s = 400
    note = "easy"
    """,
    "test",
)
FAULTS = [
    {"at_s": 150, "action": "console", "button": "stop"},
    {"at_s": 165, "action": "console", "button": "start"},
    {"at_s": 230, "action": "disconnect"},
    {"at_s": 260, "action": "hr_silent", "duration_s": 120},
]


async def _record(tmp_path: Path, seconds: float) -> tuple[SessionStore, int, SimulatedStation]:
    station = SimulatedStation(Scenario.model_validate({"events": FAULTS}))
    store = SessionStore.in_dir(tmp_path)
    clock = LoopClock()
    async with running(station, clock) as runner:
        link = InProcessLink(runner)
        runtime = StationRuntime(
            "sim", SafetyLimits(hr_expected=True), clock, link, link, plan=PLAN
        )
        recorder = Recorder(store, "gw", clock)
        record = recorder.attach("sim", runtime.hub, PLAN.name)
        async with recorder.running():
            task = asyncio.create_task(runtime.run())
            await asyncio.sleep(seconds)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await link.disconnect()
    return store, record.session, station


def _fit(data: bytes) -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = {}
    with fitdecode.FitReader(io.BytesIO(data), check_crc=fitdecode.CrcCheck.RAISE) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage):
                values = {f.name: f.value for f in frame.fields}
                found.setdefault(frame.name, []).append(values)
    return found


async def test_the_exports_tell_the_truth_through_a_reset_a_reconnect_and_an_hr_gap(
    tmp_path: Path,
) -> None:
    store, session, station = await _record(tmp_path, 420)
    belt = station.treadmill
    truth_m = belt.odometer_m
    fit = _fit(export(store, session, "fit"))
    tcx = ET.fromstring(export(store, session, "tcx"))
    rows = list(csv.DictReader(io.StringIO(export(store, session, "csv").decode())))
    beats = [sample.ts for sample in store.iter_samples(session, "heart_rate")]
    listed = summarize(store.points(session))  # what `retrogate sessions` prints
    store.close()
    # The strap's silence, as stored: the longest wait between two samples.
    silence = max(itertools.pairwise(beats), key=lambda pair: pair[1] - pair[0])
    assert silence[1] - silence[0] == pytest.approx(120, abs=5)
    gap = (silence[0] + HR_MAX_AGE_S + 1, silence[1] - 1)

    # The treadmill really did reset: its own distance went back to almost nothing.
    console = [int(r["console_distance_m"]) for r in rows if r["console_distance_m"]]
    assert min(b - a for a, b in itertools.pairwise(console)) < -100

    # 1. Totals survive the reset and the reconnect, within 1 % of the belt.
    (summary,) = fit["session"]
    assert summary["total_distance"] == pytest.approx(truth_m, rel=0.01)
    distances = [float(r["distance_m"]) for r in rows]
    times = [float(r["time_s"]) for r in rows]
    assert distances == sorted(distances)  # monotonic
    assert times == sorted(times)
    assert distances[-1] == pytest.approx(truth_m, rel=0.01)
    assert listed.distance_m == pytest.approx(summary["total_distance"], abs=0.5)
    assert listed.time_s == pytest.approx(summary["total_timer_time"], abs=0.5)
    assert listed.time_s == pytest.approx(belt.running_s, abs=2)
    fit_distances = [r["distance"] for r in fit["record"]]
    assert fit_distances == sorted(fit_distances)  # type: ignore[type-var]

    # 2. No heart rate is invented in the strap's silence, in any format.
    in_gap = [r for r in rows if gap[0] <= _epoch(r["time"]) <= gap[1]]
    assert len(in_gap) > 100
    assert {r["heart_rate_bpm"] for r in in_gap} == {""}
    fit_gap = [
        r
        for r in fit["record"]
        if gap[0] <= r["timestamp"].timestamp() <= gap[1]  # type: ignore[attr-defined]
    ]
    assert fit_gap
    assert all(r.get("heart_rate") is None for r in fit_gap)
    assert any(r.get("heart_rate") for r in fit["record"])  # there was HR outside it

    # 3. The gateway's energy, with its method; the console's is its own column.
    assert rows[-1]["energy_method"] in ("acsm", "keytel")
    assert summary["total_calories"] == round(float(rows[-1]["energy_kcal"]))
    assert float(rows[-1]["energy_kcal"]) > int(rows[-1]["console_energy_kcal"])  # reset

    # 4. A lap per segment, the backward one named; laps add up to the session.
    laps = fit["lap"]
    assert len(laps) == len(PLAN.segments)
    steps = [str(s["wkt_step_name"]) for s in fit["workout_step"]]
    assert steps[1].startswith("backward")
    assert sum(lap["total_distance"] for lap in laps) == pytest.approx(  # type: ignore[misc]
        summary["total_distance"], abs=0.5
    )
    ns = {"t": TCX_NS}
    tcx_laps = tcx.findall("t:Activities/t:Activity/t:Lap", ns)
    assert len(tcx_laps) == len(laps)
    assert (tcx_laps[1].findtext("t:Notes", namespaces=ns) or "").startswith("backward")
    tcx_total = sum(float(lap.findtext("t:DistanceMeters", namespaces=ns) or 0) for lap in tcx_laps)
    assert tcx_total == pytest.approx(summary["total_distance"], abs=0.5)
    assert listed.backward_m == pytest.approx(laps[1]["total_distance"], abs=3)
    directions = {r["direction"] for r in rows}
    assert directions == {"forward", "backward"}

    # The TCX is valid against Garmin's own schema.
    xsd = Path(__file__).parents[1] / "schemas" / "TrainingCenterDatabasev2.xsd"
    require(xsd.exists(), "Garmin's TCX v2 schema", "run tests/schemas/fetch-tcx-xsd.sh")
    xmlschema.XMLSchema(xsd).validate(ET.tostring(tcx, encoding="unicode"))

    # 5. Walked at 3-5 km/h: walking, not running.
    assert summary["sport"] == "walking"
    assert tcx.find("t:Activities/t:Activity", ns).get("Sport") == "Other"  # type: ignore[union-attr]

    # 6. Averages and maxima, and the product.
    assert summary["avg_heart_rate"]
    assert summary["max_heart_rate"]
    assert summary["max_speed"] == pytest.approx(5.0 / 3.6, abs=0.05)
    (file_id,) = fit["file_id"]
    assert file_id["product_name"] == "retrogate"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
