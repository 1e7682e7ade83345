"""A persistent QoS 1 subscriber that acknowledges a message only once it is safe.

For the archive: a message is acknowledged (PUBACK) after the batch it came
in is committed to the database, not when it arrives, so a consumer killed
between the two gets it again from the broker at its next connection
(MQTT 5, ``clean_start`` off, a session that never expires). paho does the
manual acknowledgement (``manual_ack``); aiomqtt does not expose it, so it
is reached through aiomqtt's paho client here, in one place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..backoff import Backoff
from .consumer import BrokerAddress
from .tls import tls_parameters

log = logging.getLogger(__name__)

RECEIVE_MAX = 1000  # unacknowledged messages the broker may send ahead (MQTT 5)
NEVER_EXPIRES = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message, not yet acknowledged."""

    topic: str
    payload: bytes
    mid: int
    qos: int


Handler = Callable[[list[Delivery]], Awaitable[None]]


class DurableSubscriber:
    """Subscribes with a session the broker keeps; hands batches over; acks after."""

    def __init__(
        self,
        address: BrokerAddress,
        identifier: str,
        topics: list[str],
        *,
        batch_max: int = 2000,
    ) -> None:
        self.address = address
        self.identifier = identifier
        self.topics = topics
        self.batch_max = batch_max
        self.client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.connects = 0

    def _client(self) -> aiomqtt.Client:
        a = self.address
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = NEVER_EXPIRES
        properties.ReceiveMaximum = RECEIVE_MAX
        tls = tls_parameters(a.ca_file, None, None) if a.tls else None
        return aiomqtt.Client(
            a.host,
            a.port,
            username=a.username,
            password=a.password,
            identifier=self.identifier,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
            tls_params=tls,
            keepalive=15,
            timeout=10,
        )

    async def run(self, handle: Handler) -> None:
        """Forever: connect, hand each batch to ``handle``, acknowledge it once handled."""
        backoff = Backoff(initial=0.5, maximum=15.0)
        while True:
            try:
                client = self._client()
                paho = client._client
                paho.manual_ack_set(True)
                async with client:
                    self.client = client
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self.connects += 1
                    self.connected.set()
                    backoff.reset()
                    await self._receive(client, paho, handle)
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                self.client = None
                delay = backoff.next()
                log.warning("archive: %s:%d unreachable or lost (%s); retrying in %.1f s",
                            self.address.host, self.address.port, exc, delay)  # fmt: skip
                await asyncio.sleep(delay)

    async def _receive(self, client: aiomqtt.Client, paho: mqtt.Client, handle: Handler) -> None:
        messages = client.messages
        iterator = aiter(messages)
        while True:
            first = await anext(iterator)
            batch = [first]
            while len(messages) and len(batch) < self.batch_max:
                batch.append(await anext(iterator))
            deliveries = [
                Delivery(
                    m.topic.value,
                    m.payload if isinstance(m.payload, bytes) else b"",
                    m.mid,
                    m.qos,
                )
                for m in batch
            ]
            await handle(deliveries)  # the commit: only then are they acknowledged
            for d in deliveries:
                if d.qos > 0:
                    paho.ack(d.mid, d.qos)

    async def publish(self, topic: str, payload: str) -> bool:
        """Publish on the live connection (replay requests); False when not connected."""
        client = self.client
        if client is None:
            return False
        try:
            await client.publish(topic, payload, qos=1)
        except aiomqtt.MqttError:
            return False
        return True
