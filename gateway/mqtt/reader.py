"""Commands in: read, checked against the contract, handed to the station's one door.

A command is answered here only when it carries no id to spend (unreadable,
no ``id``); everything else goes to ``StationPort.submit``, a refusal of the
contract (a bad field, retained, a reply topic outside ``<prefix>/reply/``)
as a ``RefusedCommand`` so that its id is remembered, and the governor's
answer comes back through the hub. Retained commands are refused: MQTT 5
says so on the message; over MQTT 3.1.1 a command waits for a fence (below)
to find out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from ..clock import Clock
from ..contract.payloads import CommandResultPayload
from ..contract.topics import Topics
from ..safety.events import RefusedCommand
from .commands import parse_command, response_topic_error
from .ports import Reply, StationPort

Answer = Callable[[str, CommandResultPayload, Reply | None], None]


@dataclass(slots=True)
class _Held:
    """An MQTT 3.1.1 command waiting for its fence (see ``CommandReader.hold``)."""

    seq: int
    station: str
    message: aiomqtt.Message
    retained: bool = False  # its flagged copy came back: it was published retained


class CommandReader:
    """Turns command messages into ``submit`` calls, or into refusals."""

    def __init__(
        self,
        topics: Topics,
        stations: dict[str, StationPort],
        clock: Clock,
        *,
        v5: bool,
        answer: Answer,
        expect_reply: Callable[[str, Reply], None],
    ) -> None:
        self.topics = topics
        self.stations = stations
        self.clock = clock
        self.v5 = v5
        self.commands = 0
        self.refused = 0
        self._answer = answer
        self._expect_reply = expect_reply
        # MQTT 3.1.1 commands waiting for the fence
        self._held: list[_Held] = []
        self._held_seq = 0
        self._fence_token = 0
        self._fence_covers: dict[bytes, int] = {}
        self._fence_task: asyncio.Task[None] | None = None

    async def on_connect(self, client: aiomqtt.Client) -> None:
        """Subscribe to every station's commands (and the fence, over 3.1.1)."""
        for station in self.stations:
            await self._subscribe(client, self.topics.command(station))
        if not self.v5:
            await client.subscribe(self.topics.fence, qos=1)
            self._fence_covers.clear()  # fences sent on the old connection never come back
            self._fence_soon(client)

    async def _subscribe(self, client: aiomqtt.Client, topic: str) -> None:
        if self.v5:
            # MQTT 5 can tell us a live command was published retained (3.1.1 hides
            # that from existing subscribers); such a command is refused too.
            await client.subscribe(topic, options=SubscribeOptions(qos=1, retainAsPublished=True))
        else:
            await client.subscribe(topic, qos=1)

    async def handle(self, client: aiomqtt.Client, message: aiomqtt.Message) -> bool:
        """Take a command or fence message; False if the topic is neither."""
        topic = message.topic.value
        if topic == self.topics.fence:
            self._fence_passed(client, message.payload)
            return True
        station = self.topics.station_of_command(topic)
        if station not in self.stations:
            return False
        if not message.payload:
            return True  # an empty message clears a retained one: ours, coming back
        if message.retain:
            # Answer it, and clear it so it does not come back on every reconnect.
            await client.publish(topic, b"", qos=1, retain=True)
            self._unmask(station, message)
            self.take(station, message)
        elif not self.v5:
            self._hold(client, station, message)
        else:
            self.take(station, message)
        return True

    # MQTT 3.1.1 does not tell a subscriber that a live message was published
    # retained. It does re-send retained messages, flagged, when a subscription
    # is made again. So over 3.1.1 a command waits for one round trip: the
    # gateway subscribes to the command topics again, then publishes a fence
    # message to itself. The broker keeps order on a connection, so when the
    # fence comes back, a retained copy of a held command has arrived before
    # it, flagged: that command is refused (once, as retained) and cleared.

    def _hold(self, client: aiomqtt.Client, station: str, message: aiomqtt.Message) -> None:
        self._held.append(_Held(self._held_seq, station, message))
        self._held_seq += 1
        self._fence_soon(client)

    def _fence_soon(self, client: aiomqtt.Client) -> None:
        """A fence for the held commands, unless one is already on its way out."""
        if self._held and (self._fence_task is None or self._fence_task.done()):
            self._fence_task = asyncio.create_task(self._send_fence(client), name="mqtt-fence")

    async def _send_fence(self, client: aiomqtt.Client) -> None:
        self._fence_token += 1
        token = str(self._fence_token).encode()
        self._fence_covers[token] = self._held_seq
        for station in self.stations:
            await self._subscribe(client, self.topics.command(station))
        await client.publish(self.topics.fence, token, qos=1)

    def _unmask(self, station: str, retained: aiomqtt.Message) -> None:
        """A flagged copy of a held command: the held one was published retained too."""
        for held in self._held:
            same = held.station == station and held.message.payload == retained.payload
            if same and not held.retained:
                held.retained = True
                return

    def _fence_passed(self, client: aiomqtt.Client, payload: object) -> None:
        token = payload if isinstance(payload, bytes) else str(payload).encode()
        covers = self._fence_covers.pop(token, None)
        if covers is None:
            return
        ready = [h for h in self._held if h.seq < covers]
        self._held = [h for h in self._held if h.seq >= covers]
        for held in ready:
            if not held.retained:  # a retained one was answered when its flagged copy came
                self.take(held.station, held.message)
        self._fence_soon(client)  # for commands that came after this fence went out

    def take(self, station: str, message: aiomqtt.Message) -> None:
        """One command message, live or retained: submitted, or answered with why not."""
        self.commands += 1
        raw = message.payload
        parsed = parse_command(
            raw if isinstance(raw, bytes) else str(raw).encode(),
            retained=message.retain,
            wall_now=time.time(),
            session_now=self.clock.now(),
        )
        props = message.properties
        response_topic = getattr(props, "ResponseTopic", None) if props else None
        reply = None
        if response_topic is not None:
            error = response_topic_error(str(response_topic), self.topics.reply_namespace)
            if error is not None:
                parsed = CommandResultPayload(id=parsed.id, ok=False, error=error)
            else:
                reply = (str(response_topic), getattr(props, "CorrelationData", None))
        if isinstance(parsed, CommandResultPayload):
            self.refused += 1
            if parsed.id is None:  # no id to spend: answered here
                self._answer(station, parsed, reply)
                return
            # The id is spent even so: the governor remembers it and gives the answer.
            if reply is not None:
                self._expect_reply(parsed.id, reply)
            self.stations[station].submit(
                RefusedCommand(parsed.id, parsed.error or "refused", "mqtt", stale=message.retain)
            )
            return
        if reply is not None:
            self._expect_reply(parsed.id, reply)
        self.stations[station].submit(parsed)
