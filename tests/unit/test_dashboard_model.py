"""The dashboard's model: built from MQTT messages only, bounded, tolerant of junk."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from dashboard.model import HISTORY, Fleet, clock, pace
from gateway.contract.payloads import (
    AlertPayload,
    CommandResultPayload,
    HeartRatePayload,
    SafetyEventPayload,
    StatePayload,
    TelemetryPayload,
    WorkoutPayload,
)
from gateway.contract.topics import GatewayTopic, StationTopic, Topics, route
from gateway.ftms import HeartRate, TreadmillData
from gateway.hub import Snapshot
from gateway.safety.actions import Alert, CommandResult, Decision, Level, Rule
from gateway.safety.direction import Direction
from gateway.safety.limits import hr_zone
from gateway.workout.engine import Progress
from gateway.workout.plan import Plan, Segment

# The dashboard is fed what the gateway publishes: the contract's own models,
# built by the same ``.of`` the bridge and the recorder use, on the topics
# ``Topics`` names. A change to either side fails here.
T = Topics("retrogate", "gw")
PLAN = Plan(
    name="intervals",
    segments=(
        Segment(direction=Direction.FORWARD, speed_kmh=5.0, duration_s=60),
        Segment(direction=Direction.BACKWARD, speed_kmh=4.0, distance_m=50, note="go"),
    ),
)
AT_BACKWARD = Progress(1, 2, Direction.BACKWARD, "go", None, 35.0, False)


def _feed(fleet: Fleet, topic: str, body: BaseModel | bytes) -> str | None:
    raw = body if isinstance(body, bytes) else body.model_dump_json().encode()
    return fleet.feed(topic, raw, now=1000.0)


def _telemetry(seq: int, speed: float, direction: str = "forward") -> TelemetryPayload:
    record = TreadmillData(speed_kmh=speed, distance_m=10 * seq, elapsed_s=seq)
    return TelemetryPayload.of(seq, 1.0 + seq, record, direction, direction == "backward", 6.0)


def test_what_the_gateway_publishes_lands_on_its_station() -> None:
    fleet = Fleet()
    snap = Snapshot(
        "a",
        speed_kmh=5.0,
        direction=Direction.BACKWARD,
        capped=True,
        segment=AT_BACKWARD,
        hr_source="strap",
    )
    _feed(fleet, T.state("a"), StatePayload.of(1.0, snap))
    _feed(fleet, T.workout("a"), WorkoutPayload.of(1.0, PLAN, AT_BACKWARD))
    _feed(fleet, T.telemetry("a"), _telemetry(1, 5.0, "backward"))
    _feed(fleet, T.telemetry("a"), _telemetry(1, 9.0, "backward"))  # replayed
    _feed(fleet, T.heart_rate("a"), HeartRatePayload.of(1, 1.0, HeartRate(131, True)))
    result = CommandResult("x", False, error="no")
    _feed(fleet, T.command_result("a"), CommandResultPayload.of(result))
    _feed(fleet, T.alerts("a"), AlertPayload.of(2.0, Alert(Level.DANGER, "hr", "slow down")))
    decision = Decision(Rule.CAP, "set_speed 9", "6.0")
    _feed(fleet, T.safety_events("a"), SafetyEventPayload.of(3.0, decision))
    _feed(fleet, T.availability("a", "treadmill"), b"online")
    _feed(fleet, T.gateway_status, b"online")
    view = fleet.stations["a"]
    assert fleet.malformed == 0
    assert list(view.speed) == [5.0]  # deduped by seq
    assert list(view.backward) == [True]
    assert list(view.heart_rate) == [131.0]
    assert view.direction == "backward"
    assert view.value("capped") is True
    assert view.segment is not None
    assert (view.segment.index, view.segment.left_m) == (1, 35.0)
    assert [s.direction for s in view.segments] == ["forward", "backward"]
    assert view.results["x"].error == "no"
    assert [(a.level, a.text) for a in view.alerts] == [
        ("danger", "slow down"),
        ("rule", "cap: set_speed 9 -> 6.0"),
    ]
    assert view.treadmill_online
    assert fleet.gateways == {"gw": "online"}


def test_every_topic_the_gateway_names_routes_back_to_its_kind() -> None:
    station_topics = {
        T.state("a"): "state",
        T.telemetry("a"): "telemetry",
        T.heart_rate("a"): "heart_rate",
        T.workout("a"): "workout",
        T.safety_events("a"): "safety/events",
        T.alerts("a"): "alerts",
        T.command("a"): "cmd",
        T.command_result("a"): "cmd/result",
        T.owner("a"): "owner",
        T.availability("a", "treadmill"): "treadmill/availability",
        T.availability("a", "hrm"): "hrm/availability",
    }
    for topic, kind in station_topics.items():
        assert route(T.prefix, topic) == StationTopic("a", kind)  # type: ignore[arg-type]
    assert route(T.prefix, T.gateway_status) == GatewayTopic("gw", "status")
    assert route(T.prefix, T.diag) == GatewayTopic("gw", "diag")
    assert route(T.prefix, T.fence) == GatewayTopic("gw", "fence")
    assert route(T.prefix, "retrogate/a/nonsense") is None
    assert route("home/retrogate", "home/retrogate/a/state") == StationTopic("a", "state")


def test_a_payload_that_breaks_the_contract_is_counted_not_fatal() -> None:
    fleet = Fleet()
    assert _feed(fleet, T.state("a"), b"{nope") == "a"
    assert _feed(fleet, T.telemetry("a"), json.dumps({"v": 1}).encode()) == "a"
    future = StatePayload.of(1.0, Snapshot("a")).model_dump() | {"v": 2}
    assert _feed(fleet, T.state("a"), json.dumps(future).encode()) == "a"  # another version
    assert _feed(fleet, "elsewhere/a/state", b"{}") is None
    assert _feed(fleet, T.command("b"), b'{"id": "x"}') is None
    assert fleet.malformed == 3
    assert fleet.stations["a"].state is None
    assert "b" not in fleet.stations


def test_history_is_bounded() -> None:
    fleet = Fleet()
    for seq in range(1, HISTORY + 500):
        _feed(fleet, T.telemetry("a"), _telemetry(seq, 1.0))
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
    from gateway.commands.common import broker_of

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


def test_the_alerts_panel_keeps_interventions_and_the_countdown_goes_to_the_banner() -> None:
    """One demo session logged 81 ramp decisions and 59 countdown lines: "Now backward."
    scrolled away in seconds. Routine decisions stay on MQTT and in the record."""
    fleet = Fleet()
    for i in range(50):
        ramp = Decision(Rule.RAMP, "towards the target", f"set target {i / 10:.2f} km/h")
        _feed(fleet, T.safety_events("a"), SafetyEventPayload.of(float(i), ramp))
    for left in (5, 4, 3):
        countdown = Alert(Level.INFO, "countdown", f"Turn around in {left} s")
        _feed(fleet, T.alerts("a"), AlertPayload.of(60.0 - left, countdown))
    assert fleet.stations["a"].countdown == "Turn around in 3 s"
    _feed(fleet, T.alerts("a"), AlertPayload.of(61.0, Alert(Level.INFO, "turned", "Now backward.")))
    cap = Decision(Rule.CORRECT_OVERSPEED, "belt 6.5 > limit 6.0", "set target 6.00 km/h")
    _feed(fleet, T.safety_events("a"), SafetyEventPayload.of(62.0, cap))
    view = fleet.stations["a"]
    assert [a.text for a in view.alerts] == [
        "Now backward.",
        "correct_overspeed: belt 6.5 > limit 6.0 -> set target 6.00 km/h",
    ]
    assert view.countdown is None  # turned: the banner's countdown is over


def test_capped_is_said_only_when_the_cap_holds_something_down() -> None:
    from dashboard.widgets import speed_line

    fleet = Fleet()
    turning = Snapshot("a", speed_kmh=2.0, target_kmh=2.0, capped=True, cap_limiting=False)
    _feed(fleet, T.state("a"), StatePayload.of(1.0, turning))
    _, sub, style = speed_line(fleet.stations["a"])
    assert "CAPPED" not in sub
    assert "cap 6.0" in sub
    assert style == ""
    held = Snapshot("a", speed_kmh=6.0, target_kmh=6.0, capped=True, cap_limiting=True)
    _feed(fleet, T.state("a"), StatePayload.of(2.0, held))
    assert "CAPPED at 6.0" in speed_line(fleet.stations["a"])[1]


async def test_a_steady_speed_is_drawn_at_its_height_not_as_zero() -> None:
    """The speed chart scaled min..max: a steady 5 km/h drew as the lowest bar."""
    from rich.console import Console
    from textual.app import App, ComposeResult
    from textual.widgets import Sparkline

    from dashboard.widgets import Charts

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield Charts()

    fleet = Fleet()
    for seq in range(1, 101):
        _feed(fleet, T.telemetry("a"), _telemetry(seq, 5.0))
    app = One()
    async with app.run_test(size=(60, 20)) as pilot:
        app.query_one(Charts).show(fleet.stations["a"], 40)
        await pilot.pause()
        chart = app.query_one("#speed-chart", Sparkline)
        console = Console(width=chart.size.width, record=True, color_system=None)
        console.print(chart.render())
        drawn = console.export_text()
    assert drawn.count("█") > drawn.count("▁")


async def test_the_dashboards_voice_follows_one_station_from_mqtt_messages() -> None:
    """``dashboard --voice``: the cues come from the messages the fleet reads."""
    from dashboard.voice import DashboardVoice
    from gateway.config import VoiceConfig
    from gateway.cues.voice import Bell

    rang: list[int] = []
    voice = DashboardVoice(VoiceConfig(), "lane-1", lambda: rang.append(1), Bell())
    fleet = Fleet(observer=voice.observe)
    alert = {"v": 1, "ts": 1.0, "level": "info", "code": "turned", "message": "Now backward."}
    fleet.feed("retrogate/lane-2/alerts", json.dumps(alert).encode(), 1.0)
    assert voice.announcer.scheduler.waiting == []
    fleet.feed("retrogate/lane-1/alerts", json.dumps(alert).encode(), 1.0)
    assert [c.text for c in voice.announcer.scheduler.waiting] == ["Now backward."]


def test_a_heart_rate_segment_shows_its_range_and_whether_the_runner_is_in_it() -> None:
    from dashboard.widgets import zone_style

    fleet = Fleet()
    base = {"v": 1, "ts": 1.0, "cap_kmh": 6.0, "capped": False, "cap_held": True,
            "direction": "forward", "phase": "running", "running": True, "energy_kcal": 1.0,
            "energy_method": "acsm", "hr_max_bpm": 180.0, "hr_source": "strap"}  # fmt: skip
    for bpm, in_range, shown in ((110, False, "120-130 ↑"), (125, True, "120-130 ✓"),
                                 (140, False, "120-130 ↓")):  # fmt: skip
        state = base | {"heart_rate_bpm": bpm, "hr_target_bpm": [120, 130], "hr_in_range": in_range}
        fleet.feed("retrogate/a/state", json.dumps(state).encode(), 1.0)
        assert zone_style(fleet.stations["a"])[1].startswith(shown)
    fleet.feed("retrogate/a/state", json.dumps(base | {"heart_rate_bpm": 125}).encode(), 1.0)
    assert "120-130" not in zone_style(fleet.stations["a"])[1]


def test_an_app_on_the_bridge_is_shown_under_the_speed() -> None:
    """Read back from the MQTT state, as the dashboard gets it (issue 25)."""
    from dashboard.widgets import speed_line

    fleet = Fleet()
    state = Snapshot("a", speed_kmh=5.0, target_kmh=5.0, app="Kinomap", app_asked="start: start")
    _feed(fleet, T.state("a"), StatePayload.of(1.0, state))
    assert "app Kinomap" in speed_line(fleet.stations["a"])[1]
    _feed(fleet, T.state("a"), StatePayload.of(2.0, Snapshot("a", speed_kmh=5.0)))
    assert "app" not in speed_line(fleet.stations["a"])[1]


def test_watch_mode_is_a_permanent_banner_with_what_to_set_by_hand() -> None:
    """Issue 26: a treadmill that takes no commands; the plan's speed, under the cap."""
    from dashboard.widgets import speed_line, watch_line
    from gateway.contract.payloads import WorkoutPayload
    from gateway.workout.engine import Progress
    from gateway.workout.plan import Plan, Segment

    plan = Plan(
        name="p",
        segments=(
            Segment(direction=Direction.FORWARD, speed_kmh=5.0, duration_s=60),
            Segment(direction=Direction.BACKWARD, speed_kmh=9.0, distance_m=50),
        ),
    )
    fleet = Fleet()
    _feed(fleet, T.workout("a"), WorkoutPayload.of(1.0, plan, None))
    seg = Progress(1, 2, Direction.BACKWARD, "", None, 40.0, False)
    watching = Snapshot("a", speed_kmh=7.0, control="none", cap_kmh=6.0, segment=seg)
    _feed(fleet, T.state("a"), StatePayload.of(2.0, watching))
    view = fleet.stations["a"]
    assert watch_line(view) == "WATCH MODE, cap NOT enforced: set 6.0 km/h by hand"
    assert speed_line(view)[1:] == (watch_line(view), "bold red")
    held = Snapshot("a", speed_kmh=5.0, control="held", segment=seg)
    _feed(fleet, T.state("a"), StatePayload.of(3.0, held))
    assert watch_line(fleet.stations["a"]) == ""


def test_where_the_last_session_went_is_shown_from_the_state() -> None:
    """Issue 27: the session end says where the run went, read back from MQTT."""
    from dashboard.widgets import upload_line

    fleet = Fleet()
    _feed(fleet, T.state("a"), StatePayload.of(1.0, Snapshot("a")))
    assert upload_line(fleet.stations["a"]) == ""
    went = "Strava https://www.strava.com/activities/12; intervals.icu waiting (offline)"
    _feed(fleet, T.state("a"), StatePayload.of(2.0, Snapshot("a", upload=went)))
    assert upload_line(fleet.stations["a"]) == f"last session → {went}"


def test_a_sites_stations_are_grouped_by_gateway_and_a_dropped_bridge_is_offline() -> None:
    """Issue 28: on a central broker, the owner records say which gateway serves which
    station; a gateway whose bridge dropped ("0", mosquitto's notification) is away even
    though its last status, retained, still says online."""
    fleet = Fleet()
    for station, gateway in (("b-1", "gw-b"), ("a-2", "gw-a"), ("a-1", "gw-a"), ("x", "")):
        fleet.feed(f"retrogate/{station}/owner", gateway.encode(), 1.0)
    assert fleet.by_gateway() == [("gw-a", ["a-1", "a-2"]), ("gw-b", ["b-1"]), (None, ["x"])]
    fleet.feed("retrogate/gateways/gw-b/status", b"online", 1.0)
    fleet.feed("retrogate/gateways/gw-b/bridge", b"1", 1.0)
    assert fleet.gateway_up("gw-b")
    fleet.feed("retrogate/gateways/gw-b/bridge", b"0", 2.0)
    assert not fleet.gateway_up("gw-b")
    assert fleet.gateway_up("gw-a")
