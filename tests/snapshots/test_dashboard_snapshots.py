"""Snapshots of the dashboard's screens with fixed data (no broker, no clock).

Update after an intended change: ``uv run pytest tests/snapshots --snapshot-update``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from textual.pilot import Pilot

from dashboard.app import Dashboard
from dashboard.model import Fleet
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
        "hr_contact": True, "hr_max_bpm": 180.0, "plan": "Retro-running intervals", "hr_source": "strap",
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


def test_station_screen_at_80_by_24(snap_compare: Snap) -> None:
    assert snap_compare(Dashboard(None, fleet=fleet()), terminal_size=(80, 24))


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
