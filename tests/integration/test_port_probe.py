"""The embedded broker's port probe, with real sockets on loopback."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

import pytest

from gateway.mqtt.broker import BrokerStartError, embedded_broker
from gateway.mqtt.probe import embedded_port_free
from tests.support.mosquitto import require_mosquitto


def test_a_port_left_by_a_broker_with_a_client_still_connected_is_free() -> None:
    """Defect: after a demo exited with a client connected, doctor said "port taken"."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    try:
        assert not embedded_port_free("127.0.0.1", port)  # a broker listens: taken
        server.close()  # the broker exits; its client's connection lingers
        assert embedded_port_free("127.0.0.1", port)
    finally:
        client.close()
        accepted.close()
        server.close()


@pytest.mark.parametrize("kind", ["mosquitto", "amqtt"])
async def test_the_embedded_broker_on_a_taken_port_says_what_to_do(
    kind: Literal["mosquitto", "amqtt"], tmp_path: Path
) -> None:
    if kind == "mosquitto":
        require_mosquitto()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(BrokerStartError, match=rf"port {port} on 127.0.0.1 is already in use"):
            async with embedded_broker("127.0.0.1", port, tmp_path, kind):
                pass
    finally:
        taken.close()
