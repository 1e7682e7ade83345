"""The dashboard driven by its Pilot, against a real mosquitto and the simulated treadmill."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from dashboard.app import Dashboard
from dashboard.screens import StationScreen
from gateway.mqtt.consumer import BrokerAddress
from gateway.service import RunOptions
from tests.support.gateway import running_gateway, settings_for
from tests.support.mosquitto import running_mosquitto

pytestmark = pytest.mark.mosquitto


def text(app: Dashboard, selector: str) -> str:
    """What a widget on the current screen shows."""
    return str(app.screen.query_one(selector, Static).render())


async def until(pilot: Pilot[None], condition: Callable[[], bool], within: float = 30) -> None:
    """Let the app run until the condition holds (checked between frames)."""
    loops = int(within / 0.05)
    for _ in range(loops):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def test_keys_steer_the_treadmill_and_the_screen_follows(tmp_path: Path) -> None:
    async with running_mosquitto(tmp_path / "broker") as broker:
        settings = settings_for(broker.port, tmp_path / "data")
        async with running_gateway(settings, RunOptions(sim=True)):
            app = Dashboard(BrokerAddress("127.0.0.1", broker.port))
            async with app.run_test(size=(100, 34)) as pilot:
                # One station publishing: its detail opens by itself.
                await until(pilot, lambda: isinstance(app.screen, StationScreen))
                await until(pilot, lambda: "●" in text(app, "#connections"))
                await pilot.press("s")
                await until(pilot, lambda: "start: ok" in text(app, "#result"))
                await pilot.press("plus")
                await until(pilot, lambda: "set_speed" in text(app, "#result"))
                await until(pilot, lambda: ": ok" in text(app, "#result"))
                # The treadmill reports the new target; the speed tile shows it.
                await until(pilot, lambda: "target –" not in text(app, "#speed"))
                # A refused command shows why.
                await pilot.press("n")
                await until(pilot, lambda: "REFUSED" in text(app, "#result"))
                assert "no workout plan is running" in text(app, "#result")
                # Turning around is a governor intervention: it appears in the alerts.
                await pilot.press("f")
                await until(pilot, lambda: "BACKWARD" in text(app, "#banner"))
                await until(pilot, lambda: "turnaround" in text(app, "#alerts"))
                # Losing the broker shows, and the app keeps running.
                broker.kill()
                await until(pilot, lambda: "lost" in text(app, "#connections"))
                await pilot.press("x")
                assert app.is_running
                await broker.start()
                await until(pilot, lambda: "lost" not in text(app, "#connections"))
