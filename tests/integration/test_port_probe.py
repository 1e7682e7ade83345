"""The embedded broker's port probe, with real sockets on loopback."""

from __future__ import annotations

import socket

from gateway.mqtt.probe import embedded_port_free


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
