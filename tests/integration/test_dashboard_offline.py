"""The dashboard with no broker to reach: say so once, name the address, say what to do."""

from __future__ import annotations

import socket

import pytest
from textual.pilot import Pilot

from dashboard.app import Dashboard
from gateway.mqtt.consumer import BrokerAddress

pytestmark = pytest.mark.slow  # three real connection attempts, with backoff


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nobody listens


async def _until(pilot: Pilot[None], what: str, condition: object, within: float = 20) -> None:
    for _ in range(int(within / 0.05)):
        if condition():  # type: ignore[operator]
            return
        await pilot.pause(0.05)
    raise AssertionError(f"waited {within:g} s for {what}")


async def test_a_broker_never_reached_is_named_once_and_never_called_lost() -> None:
    port = _closed_port()
    app = Dashboard(BrokerAddress("127.0.0.1", port))
    told: list[str] = []
    original = app.notify

    def notify(message: str, **kw: object) -> None:
        told.append(message)
        original(message, **kw)  # type: ignore[arg-type]

    app.notify = notify  # type: ignore[method-assign]
    async with app.run_test(size=(100, 34)) as pilot:
        await _until(
            pilot, "three failed attempts", lambda: app.consumer and app.consumer.failures >= 3
        )
        await pilot.pause()
        assert app.broker_text.startswith(f"cannot reach mqtt://127.0.0.1:{port}")
        assert "retrogate doctor" in app.broker_text
        assert "lost" not in app.broker_text
        assert len(told) == 1  # once, not once per retry
        assert f"mqtt://127.0.0.1:{port}" in told[0]
