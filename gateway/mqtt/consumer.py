"""A consumer of the MQTT contract (the dashboard's, or your script's, side).

It subscribes to everything under the prefix, reconnects with backoff, and
sends commands. It only speaks the contract in MQTT.md, so it works from any
machine that can reach the broker.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiomqtt

from ..backoff import Backoff
from ..contract.payloads import CommandName, CommandPayload
from ..contract.topics import Topics
from ..errors import RetrogateError
from .tls import tls_parameters


class AddressError(RetrogateError):
    """A broker URL that is not ``mqtt[s]://[user[:pass]@]host[:port]``."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is: ``mqtt[s]://user:pass@host:port`` or ``host[:port]``."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None

    @classmethod
    def parse(cls, url: str, ca_file: Path | None = None) -> BrokerAddress:
        """Read a URL; a bare host (and port) is fine; ``mqtts://`` means TLS."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "tcp", "mqtts"):
            raise AddressError(f"broker URL {url!r}: expected mqtt://host[:port] or mqtts://…")
        tls = parts.scheme == "mqtts" or ca_file is not None
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            username=parts.username,
            password=parts.password,
            tls=tls,
            ca_file=ca_file,
        )


class Consumer:
    """Everything under ``prefix/#``, handed to ``on_message(topic, payload)``."""

    def __init__(
        self,
        address: BrokerAddress,
        prefix: str,
        on_message: Callable[[str, bytes], None],
        on_connection: Callable[[bool, str], None],
    ) -> None:
        self.address = address
        self.prefix = prefix
        self._on_message = on_message
        self._on_connection = on_connection
        self._client: aiomqtt.Client | None = None
        self._ids = itertools.count(1)
        self.failures = 0  # connection attempts that failed, or connections lost
        self._tag = f"dash-{os.getpid()}"

    async def run(self) -> None:
        """Consume until cancelled, reconnecting after any loss."""
        backoff = Backoff(initial=0.5, maximum=10.0)
        while True:
            try:
                async with aiomqtt.Client(
                    self.address.host,
                    self.address.port,
                    username=self.address.username,
                    password=self.address.password,
                    identifier=f"{self._tag}-{time.monotonic_ns()}",
                    timeout=5,
                    keepalive=10,
                    tls_params=tls_parameters(self.address.ca_file, force=self.address.tls),
                ) as client:
                    self._client = client
                    await client.subscribe(f"{self.prefix}/#", qos=1)
                    backoff.reset()
                    self._on_connection(True, f"{self.address.host}:{self.address.port}")
                    async for message in client.messages:
                        payload = message.payload
                        if isinstance(payload, bytes):
                            self._on_message(message.topic.value, payload)
            except aiomqtt.MqttError as exc:
                self._client = None
                self.failures += 1
                self._on_connection(False, str(exc))
                await asyncio.sleep(backoff.next())

    def next_id(self) -> str:
        """A command id unique to this consumer."""
        return f"{self._tag}-{next(self._ids)}"

    async def command(
        self, station: str, cmd: CommandName, value: float | str | None = None
    ) -> str:
        """Publish a command; returns its id (its answer arrives on ``…/cmd/result``).

        Raises ConnectionError when it cannot be sent, so callers need not know aiomqtt.
        """
        if self._client is None:
            raise ConnectionError("not connected to the broker")
        command_id = self.next_id()
        body = CommandPayload(id=command_id, cmd=cmd, value=value, ts=time.time())
        topic = Topics(self.prefix).command(station)
        try:
            await self._client.publish(topic, body.model_dump_json(exclude_none=True), qos=1)
        except aiomqtt.MqttError as exc:
            raise ConnectionError(f"the broker did not take it: {exc}") from exc
        return command_id
