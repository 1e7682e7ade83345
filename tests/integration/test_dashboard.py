"""The dashboard driven by its Pilot, against a real mosquitto and the simulated treadmill.

One behaviour per test; each runs its own broker, gateway and app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from dashboard.app import Dashboard
from dashboard.screens import StationScreen
from gateway.mqtt.consumer import BrokerAddress
from gateway.service import RunOptions
from tests.support.gateway import running_gateway, settings_for
from tests.support.mosquitto import Mosquitto, running_mosquitto

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


def text(app: Dashboard, selector: str) -> str:
    """What a widget on the current screen shows."""
    return str(app.screen.query_one(selector, Static).render())


async def until(
    pilot: Pilot[None], what: str, condition: Callable[[], bool], within: float = 30
) -> None:
    """Let the app run until ``condition`` holds (checked between frames), or say what
    was awaited and what the screen showed instead."""
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    app = pilot.app
    shown = {
        name: text(app, name)  # type: ignore[arg-type]
        for name in ("#banner", "#speed", "#result", "#connections")
        if app.screen.query(name)
    }
    raise AssertionError(f"waited {within:g} s for {what}; the screen showed {shown}")


@dataclass
class Session:
    app: Dashboard
    pilot: Pilot[None]
    broker: Mosquitto


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    """A gateway on the simulator, its broker, and the dashboard on its station."""
    async with running_mosquitto(tmp_path / "broker") as broker:
        settings = settings_for(broker.port, tmp_path / "data")
        async with running_gateway(settings, RunOptions(sim=True)):
            app = Dashboard(BrokerAddress("127.0.0.1", broker.port))
            async with app.run_test(size=(100, 34)) as pilot:
                await until(
                    pilot, "the one station's detail", lambda: isinstance(app.screen, StationScreen)
                )
                await until(pilot, "the broker shown up", lambda: "●" in text(app, "#connections"))
                yield Session(app, pilot, broker)


async def test_a_key_sends_a_command_and_its_answer_shows(session: Session) -> None:
    app, pilot = session.app, session.pilot
    await pilot.press("s")
    await until(pilot, "start answered ok", lambda: "start: ok" in text(app, "#result"))


async def test_a_speed_key_changes_the_target_the_treadmill_reports(session: Session) -> None:
    app, pilot = session.app, session.pilot
    await pilot.press("s")
    await until(pilot, "start answered", lambda: "start: ok" in text(app, "#result"))
    await pilot.press("plus")
    await until(pilot, "set_speed answered ok", lambda: "set_speed" in text(app, "#result"))
    await until(pilot, "an ok", lambda: ": ok" in text(app, "#result"))
    await until(pilot, "the reported target", lambda: "target –" not in text(app, "#speed"))


async def test_a_refused_command_shows_why(session: Session) -> None:
    app, pilot = session.app, session.pilot
    await pilot.press("n")
    await until(pilot, "a refusal", lambda: "REFUSED" in text(app, "#result"))
    assert "no workout plan is running" in text(app, "#result")


async def test_turning_around_shows_in_the_banner_and_the_alerts(session: Session) -> None:
    app, pilot = session.app, session.pilot
    await pilot.press("s")
    await until(pilot, "start answered", lambda: "start: ok" in text(app, "#result"))
    await pilot.press("f")
    await until(pilot, "the BACKWARD banner", lambda: "BACKWARD" in text(app, "#banner"))
    await until(pilot, "a turnaround alert", lambda: "turnaround" in text(app, "#alerts"))


async def test_losing_the_broker_shows_and_the_app_recovers(session: Session) -> None:
    app, pilot, broker = session.app, session.pilot, session.broker
    broker.kill()
    await until(pilot, "the broker shown lost", lambda: "lost" in text(app, "#connections"))
    await pilot.press("x")  # a command with no broker: said, not fatal
    assert app.is_running
    await broker.start()
    await until(pilot, "the broker back", lambda: "lost" not in text(app, "#connections"))


async def test_the_runner_view_shows_the_live_speed_the_station_view_shows(
    session: Session,
) -> None:
    from textual.widgets import Digits

    from dashboard.runner import Readout, RunnerScreen

    app, pilot = session.app, session.pilot
    await pilot.press("s", "plus", "plus")
    await until(pilot, "the belt moving", lambda: "0.0 km/h" not in text(app, "#speed"))
    await pilot.press("r")
    await until(pilot, "the runner view", lambda: isinstance(app.screen, RunnerScreen))

    def same() -> bool:
        shown = app.screen.query_one("#runner-speed", Readout).query_one(Digits).value
        speed = app.fleet.stations["sim"].value("speed_kmh")
        return speed is not None and speed > 0 and shown == f"{speed:.1f}"

    await until(pilot, "the live speed in big digits", same)
