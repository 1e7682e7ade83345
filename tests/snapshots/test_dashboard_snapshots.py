"""Snapshots of the dashboard's screens with fixed data (no broker, no clock).

Update after an intended change: ``uv run pytest tests/snapshots --snapshot-update``.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from rich.console import Console
from textual.pilot import Pilot

from dashboard.app import Dashboard
from dashboard.model import Fleet
from dashboard.runner import RunnerScreen
from dashboard.screens import StationScreen
from gateway.contract.payloads import HeartRatePayload, TelemetryPayload
from gateway.ftms import HeartRate, TreadmillData

Snap = Callable[..., bool]
T0 = 1_800_000_000.0


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Alert times render in local time: make it the same everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


PLAN = {
    "v": 1,
    "ts": T0,
    "plan": "Retro-running intervals",
    "segments": [
        {"direction": "forward", "speed_kmh": 6.0, "duration_s": 600, "note": "Warm-up"},
        {"direction": "backward", "speed_kmh": 5.5, "distance_m": 50, "note": "Retro-run 50 m"},
        {"direction": "forward", "speed_kmh": 7.0, "distance_m": 300, "note": "Forward jog"},
        {"direction": "backward", "speed_kmh": 6.0, "distance_m": 75, "note": "Retro-run 75 m"},
        {"direction": "forward", "speed_kmh": 5.0, "duration_s": 300, "note": "Cool-down"},
    ],
}


def _state(station: str, **extra: Any) -> dict[str, Any]:
    state = {
        "v": 1, "ts": T0, "speed_kmh": 5.5, "target_kmh": 6.5, "cap_kmh": 5.5, "capped": True, "cap_limiting": True,
        "cap_held": True, "direction": "backward", "phase": "running", "running": True,
        "incline_pct": 1.0, "distance_m": 1012, "elapsed_s": 634, "energy_kcal": 52.4,
        "energy_method": "keytel", "treadmill_energy_kcal": 44, "heart_rate_bpm": 142,
        "hr_contact": True, "hr_max_bpm": 180.0, "plan": "Retro-running intervals", "hr_source": "strap", "backward_left_m": 22.0,
        "segment": {"index": 1, "count": 5, "direction": "backward", "note": "Retro-run 50 m",
                    "left_s": None, "left_m": 22.0, "finished": False},
    }  # fmt: skip
    return state | extra


def fleet(stations: int = 1) -> Fleet:
    """A session in a capped backward segment, with history and alerts."""
    f = Fleet()

    def feed(topic: str, body: object) -> None:
        if isinstance(body, BaseModel):
            raw = body.model_dump_json().encode()
        else:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        f.feed(topic, raw, T0)

    for n in range(stations):
        sid = "sim" if stations == 1 else f"lane-{n + 1}"
        feed(f"retrogate/{sid}/workout", PLAN)
        feed(f"retrogate/{sid}/treadmill/availability", b"online")
        feed(f"retrogate/{sid}/hrm/availability", b"online")
        for seq in range(1, 121):
            backward = seq > 90
            feed(
                f"retrogate/{sid}/state",
                _state(sid, direction="backward" if backward else "forward"),
            )
            speed = 5.5 if backward else 6.0 + (seq % 7) / 10
            direction = "backward" if backward else "forward"
            record = TreadmillData(speed_kmh=speed, distance_m=seq * 8, elapsed_s=seq)
            sample = TelemetryPayload.of(seq, T0, record, direction, backward, 5.5)
            feed(f"retrogate/{sid}/telemetry", sample)
            heart = HeartRatePayload.of(seq, T0, HeartRate(110 + seq // 4, True))
            feed(f"retrogate/{sid}/heart_rate", heart)
        feed(f"retrogate/{sid}/state", _state(sid, speed_kmh=5.5 - n * 0.5))
        feed(f"retrogate/{sid}/alerts", {"v": 1, "ts": T0 - 30, "level": "info", "code": "turn", "message": "Turning backward: slowing to 2.0 km/h"})  # fmt: skip
        feed(f"retrogate/{sid}/alerts", {"v": 1, "ts": T0 - 5, "level": "warning", "code": "cap", "message": "Backward cap 5.5 km/h held (asked 6.5)"})  # fmt: skip
        feed(f"retrogate/{sid}/cmd/result", {"v": 1, "id": "k1", "ok": False, "error": "cap must be a number from 0.5 to 5.5 km/h"})  # fmt: skip
        f.stations[sid].last_sample = None  # "n s ago" would depend on the clock
    assert f.malformed == 0, "the fixture must speak the contract the gateway publishes"
    return f


def test_station_screen(snap_compare: Snap) -> None:
    app = Dashboard(None, fleet=fleet())

    async def refused(pilot: Pilot[None]) -> None:
        app.pending["sim"] = ("k1", "set_cap 9")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 34), run_before=refused)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_station_screen_at(snap_compare: Snap, size: tuple[int, int]) -> None:
    assert snap_compare(Dashboard(None, fleet=fleet()), terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_runner_view_at(snap_compare: Snap, size: tuple[int, int]) -> None:
    assert snap_compare(Dashboard(None, fleet=fleet(), runner=True), terminal_size=size)


def test_runner_view_turns_amber_in_a_turnaround(snap_compare: Snap) -> None:
    f = fleet()
    body = _state("sim", phase="dwell", speed_kmh=2.0, cap_limiting=False)
    f.feed("retrogate/sim/state", json.dumps(body).encode(), T0)
    countdown = {
        "v": 1,
        "ts": T0,
        "level": "info",
        "code": "countdown",
        "message": "Turn around in 3 s",
    }
    f.feed("retrogate/sim/alerts", json.dumps(countdown).encode(), T0)
    assert snap_compare(Dashboard(None, fleet=f, runner=True), terminal_size=(80, 24))


def screen_text(app: Dashboard) -> str:
    """What a person at the terminal reads (no colours)."""
    console = Console(width=app.size.width, height=app.size.height, record=True, file=io.StringIO())
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


WHOLE = ["CAPPED at 5.5", "142 bpm", "zone 3", "52 kcal", "3 more segments", "Retro-run 50 m",
         "Forward jog", "Backward cap 5.5 km/h held", "8:19", "1012 m"]  # fmt: skip


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_nothing_is_cut_off_at(size: tuple[int, int]) -> None:
    """Found at 80x24: "target 6.0 ·", "CAPPED at 6.0 ·" and "acsm · console" cut off,
    plan rows running into the alerts column."""
    app = Dashboard(None, fleet=fleet())
    async with app.run_test(size=size) as pilot:
        while not isinstance(app.screen, StationScreen):
            await pilot.pause()
        await pilot.pause()
        app.refresh_view()  # a second draw: tiles fit their text to the laid-out width
        await pilot.pause()
        text = screen_text(app)
    for whole in WHOLE:
        assert whole in text, f"{whole!r} is not shown whole at {size}:\n{text}"
    assert not re.search(r"·\s*[│|]|· *$", text, re.MULTILINE), "a line ends in a dangling ·"
    assert not re.search(r"m\d", text), "two columns run together (a note, then an alert)"


def test_overview_of_a_gym(snap_compare: Snap) -> None:
    assert snap_compare(Dashboard(None, fleet=fleet(3)), terminal_size=(100, 24))


def test_help_in_the_light_theme(snap_compare: Snap) -> None:
    async def help_light(pilot: Pilot[None]) -> None:
        while not isinstance(pilot.app.screen, StationScreen):  # opens by itself
            await pilot.pause()
        await pilot.press("ctrl+t")
        await pilot.press("question_mark")

    app = Dashboard(None, fleet=fleet())
    assert snap_compare(app, terminal_size=(100, 34), run_before=help_light)


async def test_r_toggles_the_runner_view_and_space_still_stops() -> None:
    app = Dashboard(None, fleet=fleet())
    sent: list[str] = []

    async def send(station: str, cmd: str, value: object = None, label: str | None = None) -> None:
        sent.append(label or f"{cmd} {value}")

    app.send = send  # type: ignore[method-assign]  # no broker here: see what would be sent
    async with app.run_test(size=(80, 24)) as pilot:
        while not isinstance(app.screen, StationScreen):
            await pilot.pause()
        await pilot.press("r")
        assert isinstance(app.screen, RunnerScreen)
        await pilot.press("space")
        assert sent == ["EMERGENCY STOP"]
        await pilot.press("r")
        assert isinstance(app.screen, StationScreen)
        await pilot.press("plus", "plus")  # before any new state: two steps, not one
        assert sent[1:] == ["set_speed 7.0", "set_speed 7.5"]
