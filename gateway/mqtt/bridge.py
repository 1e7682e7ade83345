"""The gateway's MQTT side: publish the contract, take commands, never lose a sample.

One connection per gateway. Each (re)connection runs, in one TaskGroup, the
command reader, a sender per numbered stream (reading the session store from
the last acknowledged seq), the state/workout/availability publisher (≤ 1 Hz)
and the event sender; a disconnect ends the group and the loop reconnects
with jittered exponential backoff. Nothing here is on the governor's path:
stations run the same with no broker at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ..backoff import Backoff
from ..clock import Clock
from ..config import MqttConfig
from ..hub import (
    AlertMessage,
    DecisionMessage,
    HubMessage,
    Listener,
    ResultMessage,
    StateMessage,
)
from ..station.runtime import StationRuntime
from ..store.db import Stream
from ..store.recorder import Recorder, StationRecord
from .commands import parse_command, response_topic_error
from .discovery import device_config, discovery_topic
from .payloads import (
    AlertPayload,
    CommandResultPayload,
    DiagPayload,
    SafetyEventPayload,
    StatePayload,
    WorkoutPayload,
)
from .tls import tls_parameters
from .topics import Topics

log = logging.getLogger(__name__)
# aiomqtt warns at more than ten unacknowledged publishes; the stream sender
# keeps up to BATCH in flight on purpose.
_client_log = logging.getLogger(f"{__name__}.client")
_client_log.addFilter(lambda record: "pending publish calls" not in record.getMessage())

STATE_INTERVAL_S = 1.0
DIAG_INTERVAL_S = 10.0
BATCH = 256
EVENT_QUEUE = 10_000
RESPONSES_KEPT = 1_000


def _no_delay(client: aiomqtt.Client) -> None:
    """Turn Nagle off: a PUBACK then an answer are two small writes, and with
    Nagle the answer waits for the broker's delayed ACK (~40 ms). Measured in
    tests/bench/mqtt_figures.py ``answers``: QoS 1 answers 43 ms -> about 2 ms."""
    sock = client._client.socket()
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class StationClash(Exception):
    """Another gateway, online on the same broker, serves a station with our id."""


@dataclass(slots=True)
class _Held:
    """An MQTT 3.1.1 command waiting for its fence (see ``MqttBridge._hold``)."""

    seq: int
    station: str
    message: aiomqtt.Message
    retained: bool = False  # its flagged copy came back: it was published retained


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message waiting for the connection (events, results, replies)."""

    topic: str
    payload: str | bytes
    qos: int = 1
    retain: bool = False
    correlation: bytes | None = None


class MqttBridge:
    """Publishes every station on the broker and hands its commands to the stations."""

    def __init__(
        self,
        cfg: MqttConfig,
        gateway: str,
        stations: list[StationRuntime],
        recorder: Recorder,
        clock: Clock,
        *,
        host: str,
        protocol: str,
    ) -> None:
        self.cfg = cfg
        self.topics = Topics(cfg.prefix, gateway)
        self.stations = {s.id: s for s in stations}
        self.recorder = recorder
        self.clock = clock
        self.host = host
        self.protocol = (
            aiomqtt.ProtocolVersion.V5 if protocol == "5" else aiomqtt.ProtocolVersion.V311
        )
        self.connected = asyncio.Event()
        self.counters = {
            "reconnects": 0,
            "connects": 0,
            "commands": 0,
            "commands_refused": 0,
            "crashes": 0,
            "publish_errors": 0,
        }
        self.dropped = 0
        self._events: deque[Outgoing] = deque()
        self._events_ready = asyncio.Event()
        self._state_dirty = {sid: asyncio.Event() for sid in self.stations}
        self._responses: OrderedDict[str, tuple[str, bytes | None]] = OrderedDict()
        self._acked: dict[tuple[int, Stream], int] = {}
        # (seq, when the broker acknowledged it): what it may not have saved yet
        self._ack_times: dict[tuple[int, Stream], deque[tuple[int, float]]] = {}
        self._ack_floor: dict[tuple[int, Stream], int] = {}
        self._stop = asyncio.Event()
        self._progress = asyncio.Event()
        self._discovery_wanted = asyncio.Event()
        self._started = time.monotonic()
        self._version = version("retrogate")
        self._unsubscribe = [s.hub.subscribe(self._listener(s.id)) for s in self.stations.values()]
        # MQTT 3.1.1 commands waiting for the fence (see _hold)
        self._held: list[_Held] = []
        self._held_seq = 0
        self._fence_token = 0
        self._fence_covers: dict[bytes, int] = {}
        self._fence_task: asyncio.Task[None] | None = None

    # --- hub side (never blocks) ---------------------------------------------------------

    def _listener(self, station: str) -> Listener:
        def on_message(message: HubMessage) -> None:
            if isinstance(message, StateMessage):
                self._state_dirty[station].set()
            elif isinstance(message, DecisionMessage):
                ts = self.recorder.wall(message.at)
                body = SafetyEventPayload.of(ts, message.decision).model_dump_json()
                self._queue(Outgoing(self.topics.safety_events(station), body))
            elif isinstance(message, AlertMessage):
                ts = self.recorder.wall(message.at)
                body = AlertPayload.of(ts, message.alert).model_dump_json()
                self._queue(Outgoing(self.topics.alerts(station), body))
            elif isinstance(message, ResultMessage):
                self._answer(station, CommandResultPayload.of(message.result))

        return on_message

    def _queue(self, item: Outgoing) -> None:
        if len(self._events) >= EVENT_QUEUE:
            self._events.popleft()
            self.dropped += 1
        self._events.append(item)
        self._events_ready.set()

    def _answer(
        self,
        station: str,
        result: CommandResultPayload,
        reply: tuple[str, bytes | None] | None = None,
    ) -> None:
        """Every command's one answer on ``…/cmd/result``, and on its MQTT v5 response topic."""
        data = result.model_dump(exclude_none=True)
        data.setdefault("id", None)  # a refusal of an unreadable command still says "id": null
        body = json.dumps(data)
        self._queue(Outgoing(self.topics.command_result(station), body))
        if reply is None and result.id is not None:
            reply = self._responses.pop(result.id, None)
        if reply is not None:
            topic, correlation = reply
            self._queue(Outgoing(topic, body, correlation=correlation))

    # --- lifecycle -------------------------------------------------------------------------

    async def check_ownership(self, timeout_s: float = 5.0) -> None:
        """Refuse to start if another online gateway owns one of our station ids.

        Two gateways whose stations share an id would both obey every
        command. Each station has a retained owner record; a record of
        another gateway whose status is ``online`` stops this one here. An
        unreachable broker is no clash (the bridge keeps trying later).
        """
        owners: dict[str, str] = {}
        statuses: dict[str, str] = {}
        fence = f"{self.topics.fence}/claim"
        try:
            claim = self._client(suffix="-claim", will=False)
            async with claim as client, asyncio.timeout(timeout_s):
                for station in self.stations:
                    await client.subscribe(self.topics.owner(station), qos=1)
                await client.subscribe(self.topics.status_of("+"), qos=1)
                await client.subscribe(fence, qos=1)
                await client.publish(fence, b"1", qos=1)
                async for message in client.messages:
                    topic, payload = message.topic.value, message.payload
                    text = payload.decode(errors="replace") if isinstance(payload, bytes) else ""
                    if topic == fence:
                        break
                    if topic.endswith("/owner"):
                        owners[self.topics.station_of_owner(topic)] = text
                    elif topic.endswith("/status"):
                        statuses[topic] = text
        except (aiomqtt.MqttError, TimeoutError):
            return
        for station, owner in owners.items():
            online = statuses.get(self.topics.status_of(owner)) == "online"
            if owner and owner != self.topics.gateway and online:
                raise StationClash(
                    f"station {station!r} is already served by gateway {owner!r} on "
                    f"{self.host}:{self.cfg.port}: give this station another id, or stop "
                    "that gateway"
                )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[MqttBridge]:
        """Connected (and reconnecting) for the duration of the block."""
        await self.check_ownership()
        task = asyncio.create_task(self._run(), name="mqtt")
        try:
            yield self
        finally:
            self._stop.set()
            try:
                async with asyncio.timeout(5):
                    await task
            except TimeoutError:
                log.warning("MQTT: could not say goodbye to the broker in time")
            for unsubscribe in self._unsubscribe:
                unsubscribe()

    def _client(self, suffix: str = "", *, will: bool = True) -> aiomqtt.Client:
        """The gateway's connection; ``will=False`` for a helper whose end means nothing."""
        cfg = self.cfg
        tls = tls_parameters(cfg.ca_file, cfg.cert_file, cfg.key_file)
        return aiomqtt.Client(
            self.host,
            cfg.port,
            username=cfg.username,
            password=cfg.password.get_secret_value() if cfg.password else None,
            identifier=f"retrogate-{self.topics.gateway}{suffix}",
            protocol=self.protocol,
            will=(
                aiomqtt.Will(self.topics.gateway_status, b"offline", qos=1, retain=True)
                if will
                else None
            ),
            clean_session=True if self.protocol == aiomqtt.ProtocolVersion.V311 else None,
            tls_params=tls,
            keepalive=15,
            timeout=10,
            logger=_client_log,
        )

    async def _run(self) -> None:
        backoff = Backoff(initial=0.5, maximum=30.0)
        while not self._stop.is_set():
            reason: BaseException
            try:
                async with self._client() as client:
                    backoff.reset()
                    await self._connection(client)
                    return
            except* aiomqtt.MqttError as group:
                reason = group.exceptions[0]
            except* Exception as group:  # a bug must not end MQTT silently: log, reconnect
                reason = group.exceptions[0]
                self.counters["crashes"] += 1
                log.error(
                    "MQTT: unexpected error, restarting the connection: %r",
                    reason,
                    exc_info=reason if self.counters["crashes"] == 1 else None,
                )
            self.connected.clear()
            self.counters["reconnects"] += 1
            delay = backoff.next()
            hint = (
                " (is the broker running? `retrogate doctor` checks)"
                if self.counters["connects"] == 0 and self.counters["reconnects"] == 1
                else ""
            )
            log.warning(
                "MQTT: %s:%d unreachable or lost (%s); retrying in %.1f s%s",
                self.host,
                self.cfg.port,
                reason,
                delay,
                hint,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop.wait()

    async def _connection(self, client: aiomqtt.Client) -> None:
        self.counters["connects"] += 1
        _no_delay(client)
        await client.publish(self.topics.gateway_status, b"online", qos=1, retain=True)
        for station in self.stations:
            owner = self.topics.gateway.encode()
            await client.publish(self.topics.owner(station), owner, qos=1, retain=True)
            await self._subscribe_commands(client, self.topics.command(station))
        if self.protocol == aiomqtt.ProtocolVersion.V311:
            await client.subscribe(self.topics.fence, qos=1)
            self._fence_covers.clear()  # fences sent on the old connection never come back
            self._fence_soon(client)
        if self.cfg.discovery:
            await client.subscribe(f"{self.cfg.discovery_prefix}/status", qos=1)
            await self._send_discovery(client)
        self.connected.set()
        log.info("MQTT: connected to %s:%d", self.host, self.cfg.port)
        async with asyncio.TaskGroup() as tg:
            workers = [
                tg.create_task(self._reader(client), name="mqtt-reader"),
                tg.create_task(self._event_sender(client), name="mqtt-events"),
                tg.create_task(self._diag(client), name="mqtt-diag"),
            ]
            for sid, record in self.recorder.records.items():
                if sid not in self.stations:
                    continue
                workers.append(tg.create_task(self._state(client, sid)))
                for stream in ("telemetry", "heart_rate"):
                    workers.append(tg.create_task(self._stream(client, record, stream)))
            await self._stop.wait()
            await self._goodbye(client)
            for worker in workers:
                worker.cancel()

    async def _subscribe_commands(self, client: aiomqtt.Client, topic: str) -> None:
        if self.protocol == aiomqtt.ProtocolVersion.V5:
            # MQTT 5 can tell us a live command was published retained (3.1.1 hides
            # that from existing subscribers); such a command is refused too.
            options = SubscribeOptions(qos=1, retainAsPublished=True)
            await client.subscribe(topic, options=options)
        else:
            await client.subscribe(topic, qos=1)

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """A clean stop: drain what is queued (briefly), then say offline ourselves."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                while not self._idle():
                    self._progress.clear()
                    await self._progress.wait()
        for station in self.stations:
            for device in ("treadmill", "hrm"):
                await client.publish(
                    self.topics.availability(station, device), b"offline", qos=1, retain=True
                )
        await client.publish(self.topics.gateway_status, b"offline", qos=1, retain=True)

    def _idle(self) -> bool:
        return not self._events and self.outbox_depth() == 0

    # --- workers ---------------------------------------------------------------------------

    async def _reader(self, client: aiomqtt.Client) -> None:
        ha_status = f"{self.cfg.discovery_prefix}/status"
        fence = self.topics.fence
        async for message in client.messages:
            topic = message.topic.value
            if topic == ha_status:
                if message.payload == b"online":
                    await self._send_discovery(client)
                continue
            if topic == fence:
                self._fence_passed(client, message.payload)
                continue
            station = self.topics.station_of_command(topic)
            if station not in self.stations:
                continue
            if not message.payload:
                continue  # an empty message clears a retained one: ours, coming back
            if message.retain:
                # Answer it, and clear it so it does not come back on every reconnect.
                await client.publish(topic, b"", qos=1, retain=True)
                self._unmask(station, message)
                self._command(station, message)
            elif self.protocol == aiomqtt.ProtocolVersion.V311:
                self._hold(client, station, message)
            else:
                self._command(station, message)

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
            await self._subscribe_commands(client, self.topics.command(station))
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
                self._command(held.station, held.message)
        self._fence_soon(client)  # for commands that came after this fence went out

    def _command(self, station: str, message: aiomqtt.Message) -> None:
        self.counters["commands"] += 1
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
            self.counters["commands_refused"] += 1
            self._answer(station, parsed, reply)
            return
        if reply is not None:
            self._responses[parsed.id] = reply
            while len(self._responses) > RESPONSES_KEPT:
                self._responses.popitem(last=False)
        self.stations[station].submit(parsed)

    async def _event_sender(self, client: aiomqtt.Client) -> None:
        while True:
            self._events_ready.clear()
            while self._events:
                batch = list(itertools.islice(self._events, BATCH))
                await asyncio.gather(*(self._send(client, item) for item in batch))
                for item in batch:  # only once the broker has them (unless already evicted)
                    if self._events and self._events[0] is item:
                        self._events.popleft()
                self._progress.set()
            await self._events_ready.wait()

    async def _send(self, client: aiomqtt.Client, item: Outgoing) -> None:
        """One message; a message the client refuses costs that message, never the sender."""
        properties = None
        if item.correlation is not None and self.protocol == aiomqtt.ProtocolVersion.V5:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.CorrelationData = item.correlation
        try:
            await client.publish(
                item.topic, item.payload, qos=item.qos, retain=item.retain, properties=properties
            )
        except (ValueError, TypeError) as exc:
            self.counters["publish_errors"] += 1
            if self.counters["publish_errors"] in (1, 10, 100):
                log.warning("MQTT: could not publish to %r: %s", item.topic[:80], exc)

    async def _stream(self, client: aiomqtt.Client, record: StationRecord, stream: Stream) -> None:
        store = self.recorder.store
        key = (record.session, stream)
        acked = self._acked.get(key)
        if acked is None:
            acked = store.acked(record.session, stream)
            self._ack_floor.setdefault(key, acked)  # from before this process: taken as saved
        topic = (
            self.topics.telemetry(record.station)
            if stream == "telemetry"
            else self.topics.heart_rate(record.station)
        )
        # A PUBACK is not durability: the broker may have acknowledged and then
        # lost (SIGKILL) everything since its last autosave. Send again what it
        # acknowledged within that interval, and at least the last overlap;
        # consumers dedupe by seq, so re-sending is cheap and safe.
        next_seq = max(1, self._durable_seq(key) - self.cfg.replay_overlap + 1)
        event = record.new_data[stream]
        while True:
            event.clear()
            rows = store.read(record.session, stream, next_seq, BATCH)
            if not rows:
                await event.wait()
                continue
            await asyncio.gather(*(client.publish(topic, row.payload, qos=1) for row in rows))
            next_seq = rows[-1].seq + 1
            if rows[-1].seq > self._acked.get(key, 0):
                self._acked[key] = rows[-1].seq
                self.recorder.ack(record, stream, rows[-1].seq)
                self._ack_times.setdefault(key, deque()).append((rows[-1].seq, time.monotonic()))
                self._durable_seq(key)  # prunes: the log holds one autosave interval, no more
            self._progress.set()

    async def _state(self, client: aiomqtt.Client, station: str) -> None:
        runtime = self.stations[station]
        dirty = self._state_dirty[station]
        sent: dict[str, str] = {}
        while True:
            dirty.clear()
            snap = runtime.hub.snapshot
            ts = self.recorder.wall(self.clock.now())
            await self._publish_if_changed(
                client, sent, self.topics.state(station), StatePayload.of(ts, snap), "ts"
            )
            workout = WorkoutPayload.of(ts, runtime.plan, snap.segment)
            await self._publish_if_changed(
                client, sent, self.topics.workout(station), workout, "ts"
            )
            for device, up in (
                ("treadmill", snap.treadmill_connected),
                ("hrm", snap.hrm_connected),
            ):
                topic = self.topics.availability(station, device)  # type: ignore[arg-type]
                value = "online" if up else "offline"
                if sent.get(topic) != value:
                    await client.publish(topic, value.encode(), qos=1, retain=True)
                    sent[topic] = value
            await asyncio.sleep(STATE_INTERVAL_S)
            await dirty.wait()

    async def _publish_if_changed(
        self, client: aiomqtt.Client, sent: dict[str, str], topic: str, payload: Any, ignore: str
    ) -> None:
        key = payload.model_dump_json(exclude={ignore})
        if sent.get(topic) == key:
            return
        await client.publish(topic, payload.model_dump_json(), qos=1, retain=True)
        sent[topic] = key

    async def _diag(self, client: aiomqtt.Client) -> None:
        while True:
            diag = DiagPayload(
                ts=time.time(),
                uptime_s=round(time.monotonic() - self._started, 1),
                reconnects=self.counters["reconnects"],
                decode_errors=sum(s.counters["decode_errors"] for s in self.stations.values()),
                outbox_depth=self.outbox_depth(),
                dropped=self.dropped + self.recorder.dropped,
                commands=self.counters["commands"],
                commands_refused=self.counters["commands_refused"],
            )
            await client.publish(self.topics.diag, diag.model_dump_json(), qos=0, retain=True)
            await asyncio.sleep(DIAG_INTERVAL_S)

    def _durable_seq(self, key: tuple[int, Stream]) -> int:
        """The highest seq the broker acknowledged long enough ago to have saved it."""
        times = self._ack_times.get(key)
        horizon = time.monotonic() - self.cfg.broker_autosave_s
        while times and times[0][1] <= horizon:
            self._ack_floor[key] = times.popleft()[0]
        return self._ack_floor[key]

    def outbox_depth(self) -> int:
        """Stored stream messages not yet acknowledged by the broker, plus queued events."""
        depth = len(self._events)
        for record in self.recorder.records.values():
            for stream in ("telemetry", "heart_rate"):
                acked = self._acked.get((record.session, stream), 0)
                depth += max(0, record.stored[stream] - acked)
        return depth

    async def _send_discovery(self, client: aiomqtt.Client) -> None:
        for station, runtime in self.stations.items():
            config = device_config(
                self.topics,
                station,
                version=self._version,
                max_speed_kmh=20.0,
                backward_cap_kmh=runtime.limits.backward_cap_kmh,
            )
            await client.publish(
                discovery_topic(self.cfg.discovery_prefix, self.topics, station),
                json.dumps(config),
                qos=1,
                retain=True,
            )
