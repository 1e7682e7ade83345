"""The dashboard's model: built from MQTT messages only, bounded, tolerant of junk."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from dashboard.model import HISTORY, Fleet, clock, hr_zone, pace


def _feed(fleet: Fleet, topic: str, body: object) -> str | None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return fleet.feed(topic, raw, now=1000.0)


def test_state_telemetry_and_results_land_on_their_station() -> None:
    fleet = Fleet()
    _feed(fleet, "retrogate/a/state", {"v": 1, "direction": "backward", "speed_kmh": 5.0})
    _feed(fleet, "retrogate/a/telemetry", {"v": 1, "seq": 1, "speed_kmh": 5.0})
    _feed(fleet, "retrogate/a/telemetry", {"v": 1, "seq": 1, "speed_kmh": 9.0})  # replayed
    _feed(fleet, "retrogate/a/cmd/result", {"v": 1, "id": "x", "ok": False, "error": "no"})
    _feed(fleet, "retrogate/a/treadmill/availability", b"online")
    _feed(fleet, "retrogate/gateways/gw/status", b"online")
    view = fleet.stations["a"]
    assert list(view.speed) == [5.0]  # deduped by seq
    assert list(view.backward) == [True]
    assert view.results["x"]["error"] == "no"
    assert view.treadmill_online
    assert fleet.gateways == {"gw": "online"}


def test_junk_is_counted_not_fatal_and_commands_are_not_stations() -> None:
    fleet = Fleet()
    assert _feed(fleet, "retrogate/a/state", b"{nope") == "a"
    assert _feed(fleet, "retrogate/a/telemetry", {"v": 1}) == "a"
    assert _feed(fleet, "elsewhere/a/state", {"v": 1}) is None
    assert _feed(fleet, "retrogate/b/cmd", {"id": "x"}) is None
    assert fleet.malformed == 2
    assert "b" not in fleet.stations


def test_history_is_bounded() -> None:
    fleet = Fleet()
    for seq in range(1, HISTORY + 500):
        _feed(fleet, "retrogate/a/telemetry", {"v": 1, "seq": seq, "speed_kmh": 1.0})
    assert len(fleet.stations["a"].speed) == HISTORY


def test_zones_pace_and_clock() -> None:
    assert hr_zone(None, 180) == 0
    assert hr_zone(99, 180) == 1  # 55 %
    assert hr_zone(171, 180) == 5  # 95 %
    assert pace(6.0) == "10:00"
    assert pace(0.0) == "–:––"
    assert clock(3725) == "1:02:05"
    assert clock(65) == "1:05"


def test_a_password_on_the_command_line_is_warned_about(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dashboard.cli import broker_of

    monkeypatch.setenv("RETROGATE_MQTT__PASSWORD", "from-env")
    config = tmp_path / "config.toml"
    config.write_text('gateway_id = "x"\n')
    args = argparse.Namespace(config=config, broker="mqtt://u:secret@h:1883")
    found = broker_of(args)
    assert found is not None
    assert "process list" in capsys.readouterr().err
    args = argparse.Namespace(config=config, broker="mqtt://u@h:1883")
    found = broker_of(args)
    assert found is not None
    assert found[0].password == "from-env"  # the secret from the environment, not argv
    assert capsys.readouterr().err == ""
