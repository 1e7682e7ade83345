"""A test MQTT client that keeps what it sees, reconnecting like a real consumer.

It uses a persistent session (clean_session=False, a fixed id), so a broker
that keeps sessions queues for it while it is away; it dedupes the numbered
streams by ``seq`` as MQTT.md asks every consumer to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt


@dataclass
class Observer:
    """Collected messages, and a way to wait for a condition on them."""

    port: int
    identifier: str = "observer"
    topics: tuple[str, ...] = ("retrogate/#",)
    username: str | None = None
    password: str | None = None
    tls: aiomqtt.TLSParameters | None = None
    seqs: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    last: dict[str, bytes] = field(default_factory=dict)
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    connects: int = 0
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def client(self) -> aiomqtt.Client:
        """A client with this observer's identity."""
        return aiomqtt.Client(
            "127.0.0.1",
            self.port,
            identifier=self.identifier,
            clean_session=False,
            protocol=aiomqtt.ProtocolVersion.V311,
            username=self.username,
            password=self.password,
            tls_params=self.tls,
            timeout=5,
        )

    async def run(self) -> None:
        """Collect forever, reconnecting after a broker outage."""
        while True:
            try:
                async with self.client() as client:
                    self.connects += 1
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        await self._keep(message)
            except aiomqtt.MqttError:
                self.subscribed.clear()
                await asyncio.sleep(0.1)  # reconnect pacing, not synchronisation

    async def _keep(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else b""
        self.messages.append((topic, payload, message.retain))
        self.last[topic] = payload
        if topic.endswith(("/telemetry", "/heart_rate")):
            self.seqs[topic].add(json.loads(payload)["seq"])
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, condition: Callable[[], bool], within: float = 30) -> None:
        """Until ``condition()`` holds (checked after every message)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(condition)

    def json(self, topic: str) -> Any:
        """The last payload seen on ``topic``, decoded."""
        return json.loads(self.last[topic])


@contextlib.asynccontextmanager
async def observing(observer: Observer) -> AsyncIterator[Observer]:
    """The observer running in the background, subscribed before the block starts."""
    task = asyncio.create_task(observer.run())
    try:
        async with asyncio.timeout(10):
            await observer.subscribed.wait()
        yield observer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def gaps(seqs: set[int]) -> list[int]:
    """The missing numbers between 1 and the highest seen."""
    return sorted(set(range(1, max(seqs, default=0) + 1)) - seqs)
