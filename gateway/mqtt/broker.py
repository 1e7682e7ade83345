"""The embedded broker (amqtt, in-process): the demo needs nothing installed.

It binds loopback by default: a broker that accepts commands for a belt
should not appear on the LAN unless someone decides so (``mqtt.embedded_bind``).
Production sites use mosquitto (docs/mqtt.md).
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import AsyncIterator

from amqtt.broker import Broker

log = logging.getLogger(__name__)


class BrokerStartError(Exception):
    """The embedded broker could not listen (the message says what to do)."""


@contextlib.asynccontextmanager
async def embedded_broker(bind: str, port: int) -> AsyncIterator[None]:
    """Run an MQTT 3.1.1 broker on ``bind:port`` for the duration of the block."""
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{bind}:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    try:
        await broker.start()
    except Exception as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            raise BrokerStartError(
                f"port {port} on {bind} is already in use (another broker?): use it with "
                f'mqtt.broker = "localhost" in the config, or choose another mqtt.port'
            ) from exc
        raise BrokerStartError(
            f"the embedded broker did not start on {bind}:{port}: {exc}"
        ) from exc
    log.info("embedded MQTT broker listening on %s:%d", bind, port)
    try:
        yield
    finally:
        await broker.shutdown()
