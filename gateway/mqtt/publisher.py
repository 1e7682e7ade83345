"""Everything the gateway says on MQTT: the numbered streams, state, events, answers.

Hub listeners only enqueue (the brain never waits on the network). On each
connection the bridge runs the workers here: a sender per numbered stream
(read from the session store, from the last seq the broker acknowledged),
the state/workout/availability publisher (≤ 1 Hz, and only what changed),
the event sender and the diagnostics.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..clock import Clock
from ..config import MqttConfig
from ..contract.payloads import (
    AlertPayload,
    CommandResultPayload,
    DiagPayload,
    ReplayPayload,
    SafetyEventPayload,
    SessionPayload,
    StatePayload,
    WorkoutPayload,
)
from ..contract.topics import Topics
from ..hub import (
    AlertMessage,
    DecisionMessage,
    HubMessage,
    Listener,
    ResultMessage,
    Snapshot,
    StateMessage,
)
from ..store.db import StoreError, Stream
from ..store.recorder import StationRecord
from .ports import EventQueue, Outbox, Outgoing, Reply, StationPort

log = logging.getLogger(__name__)

STATE_INTERVAL_S = 1.0
DIAG_INTERVAL_S = 10.0
BATCH = 256
RESPONSES_KEPT = 1_000


class Publisher:
    """Publishes every station's contract from its hub and the outbox."""

    def __init__(
        self,
        cfg: MqttConfig,
        topics: Topics,
        stations: dict[str, StationPort],
        outbox: Outbox,
        clock: Clock,
        *,
        v5: bool,
        counters: Callable[[], Mapping[str, int]] = dict,
    ) -> None:
        self.cfg = cfg
        self.topics = topics
        self.stations = stations
        self.outbox = outbox
        self.clock = clock
        self.v5 = v5
        self._counters = counters
        self.events = EventQueue()
        self.publish_errors = 0
        self.acked: dict[tuple[int, Stream], int] = {}
        # (seq, when the broker acknowledged it): what it may not have saved yet
        self._ack_times: dict[tuple[int, Stream], deque[tuple[int, float]]] = {}
        self._ack_floor: dict[tuple[int, Stream], int] = {}
        self._responses: OrderedDict[str, Reply] = OrderedDict()
        self._state_dirty = {sid: asyncio.Event() for sid in stations}
        # A change of direction, phase or segment goes out at once, not within the
        # 1 Hz throttle: a banner saying BACKWARD over a forward segment is a lie.
        self._state_urgent = {sid: asyncio.Event() for sid in stations}
        self._state_key: dict[str, tuple[object, ...]] = {}
        self._progress = asyncio.Event()
        self._started = time.monotonic()
        self.replayed = 0  # stream messages sent again for an archive
        self.replays_refused = 0

    # --- hub side (never blocks) -----------------------------------------------------------

    def listen(self) -> list[Callable[[], None]]:
        """Subscribe to every station's hub; returns the unsubscribes."""
        return [port.hub.subscribe(self._listener(sid)) for sid, port in self.stations.items()]

    def replay(self, station: str, messages: Iterable[HubMessage]) -> None:
        """Messages a station's hub sent before this publisher listened (the gateway
        starts MQTT once its stations have taken control): published as if live."""
        listener = self._listener(station)
        for message in messages:
            listener(message)

    def _listener(self, station: str) -> Listener:
        def on_message(message: HubMessage) -> None:
            if isinstance(message, StateMessage):
                self._state_dirty[station].set()
                if _turning_point(message.snapshot) != self._state_key.get(station):
                    self._state_urgent[station].set()
            elif isinstance(message, DecisionMessage):
                ts = self.outbox.wall(message.at)
                session = self._session_of(station)
                body = SafetyEventPayload.of(ts, message.decision, session).model_dump_json()
                self.events.put(Outgoing(self.topics.safety_events(station), body))
            elif isinstance(message, AlertMessage):
                ts = self.outbox.wall(message.at)
                session = self._session_of(station)
                body = AlertPayload.of(ts, message.alert, session).model_dump_json()
                self.events.put(Outgoing(self.topics.alerts(station), body))
            elif isinstance(message, ResultMessage):
                self.answer(station, CommandResultPayload.of(message.result))

        return on_message

    def expect_reply(self, command_id: str, reply: Reply) -> None:
        """A command asked for an MQTT v5 reply: its answer goes there too."""
        self._responses[command_id] = reply
        while len(self._responses) > RESPONSES_KEPT:
            self._responses.popitem(last=False)

    def answer(
        self, station: str, result: CommandResultPayload, reply: Reply | None = None
    ) -> None:
        """Every command's one answer on ``…/cmd/result``, and on its MQTT v5 response topic."""
        data = result.model_dump(exclude_none=True)
        data.setdefault("id", None)  # a refusal of an unreadable command still says "id": null
        body = json.dumps(data)
        self.events.put(Outgoing(self.topics.command_result(station), body))
        if reply is None and result.id is not None:
            reply = self._responses.pop(result.id, None)
        if reply is not None:
            topic, correlation = reply
            self.events.put(Outgoing(topic, body, correlation=correlation))

    # --- workers (one set per connection) ----------------------------------------------------

    def workers(self, client: aiomqtt.Client, tg: asyncio.TaskGroup) -> list[asyncio.Task[None]]:
        """Start this connection's senders in ``tg``."""
        tasks = [
            tg.create_task(self._event_sender(client), name="mqtt-events"),
            tg.create_task(self._diag(client), name="mqtt-diag"),
        ]
        for sid, record in self.outbox.records.items():
            if sid not in self.stations:
                continue
            tasks.append(tg.create_task(self._state(client, sid), name=f"mqtt-state-{sid}"))
            for stream in ("telemetry", "heart_rate"):
                tasks.append(tg.create_task(self._stream(client, record, stream)))
        return tasks

    async def _event_sender(self, client: aiomqtt.Client) -> None:
        queue = self.events.items
        while True:
            self.events.ready.clear()
            while queue:
                batch = list(itertools.islice(queue, BATCH))
                await asyncio.gather(*(self._send(client, item) for item in batch))
                for item in batch:  # only once the broker has them (unless already evicted)
                    if queue and queue[0] is item:
                        queue.popleft()
                self._progress.set()
            await self.events.ready.wait()

    async def _send(self, client: aiomqtt.Client, item: Outgoing) -> None:
        """One message; a message the client refuses costs that message, never the sender."""
        properties = None
        if item.correlation is not None and self.v5:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.CorrelationData = item.correlation
        try:
            await client.publish(
                item.topic, item.payload, qos=item.qos, retain=item.retain, properties=properties
            )
        except (ValueError, TypeError) as exc:
            self.publish_errors += 1
            if self.publish_errors in (1, 10, 100):
                log.warning("MQTT: could not publish to %r: %s", item.topic[:80], exc)

    async def _stream(self, client: aiomqtt.Client, record: StationRecord, stream: Stream) -> None:
        store = self.outbox.store
        key = (record.session, stream)
        acked = self.acked.get(key)
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
            if rows[-1].seq > self.acked.get(key, 0):
                self.acked[key] = rows[-1].seq
                self.outbox.ack(record, stream, rows[-1].seq)
                self._ack_times.setdefault(key, deque()).append((rows[-1].seq, time.monotonic()))
                self._durable_seq(key)  # prunes: the log holds one autosave interval, no more
            self._progress.set()

    async def _state(self, client: aiomqtt.Client, station: str) -> None:
        hub = self.stations[station].hub
        dirty, urgent = self._state_dirty[station], self._state_urgent[station]
        sent: dict[str, str] = {}
        while True:
            dirty.clear()
            urgent.clear()
            snap = hub.snapshot
            self._state_key[station] = _turning_point(snap)
            ts = self.outbox.wall(self.clock.now())
            await self._publish_if_changed(
                client, sent, self.topics.state(station), StatePayload.of(ts, snap), "ts"
            )
            workout = WorkoutPayload.of(ts, snap.workout, snap.segment)
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
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STATE_INTERVAL_S):
                    await urgent.wait()  # sooner only for a turning point
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
            await client.publish(
                self.topics.diag, self.diag().model_dump_json(), qos=0, retain=True
            )
            await asyncio.sleep(DIAG_INTERVAL_S)

    def diag(self) -> DiagPayload:
        """The gateway's counters, as published on ``gateways/<id>/diag``."""
        counters = self._counters()
        return DiagPayload(
            ts=time.time(),
            uptime_s=round(time.monotonic() - self._started, 1),
            reconnects=counters.get("reconnects", 0),
            decode_errors=sum(port.decode_errors() for port in self.stations.values()),
            outbox_depth=self.outbox_depth(),
            dropped=self.events.dropped + self.outbox.dropped,
            commands=counters.get("commands", 0),
            commands_refused=counters.get("commands_refused", 0),
            replayed=self.replayed,
            replays_refused=self.replays_refused,
        )

    # --- the outbox ------------------------------------------------------------------------

    def _durable_seq(self, key: tuple[int, Stream]) -> int:
        """The highest seq the broker acknowledged long enough ago to have saved it."""
        times = self._ack_times.get(key)
        horizon = time.monotonic() - self.cfg.broker_autosave_s
        while times and times[0][1] <= horizon:
            self._ack_floor[key] = times.popleft()[0]
        return self._ack_floor[key]

    def outbox_depth(self) -> int:
        """Stored stream messages not yet acknowledged by the broker, plus queued events."""
        depth = len(self.events)
        for record in self.outbox.records.values():
            for stream in ("telemetry", "heart_rate"):
                acked = self.acked.get((record.session, stream), 0)
                depth += max(0, record.stored[stream] - acked)
        return depth

    async def last_states(self, client: aiomqtt.Client) -> None:
        """Every station's state and session record as they end (retained): what happened
        in the last throttle interval, such as where the session was uploaded, is not
        lost, and an archive learns that the session ended."""
        for station, port in self.stations.items():
            ts = self.outbox.wall(self.clock.now())
            payload = StatePayload.of(ts, port.hub.snapshot).model_dump_json()
            await client.publish(self.topics.state(station), payload, qos=1, retain=True)
        await self.sessions(client)

    def send_again(self, payload: bytes) -> None:
        """An archive's request for stored stream messages it missed: sent again as they
        were (consumers dedupe by seq). Only this gateway's own sessions; a bad request
        is a counted log line."""
        try:
            ask = ReplayPayload.model_validate_json(payload)
        except ValueError as exc:
            self.replays_refused += 1
            log.warning("MQTT: a replay request broke the contract: %s", str(exc).splitlines()[0])
            return
        record = self.outbox.records.get(ask.station)
        store = self.outbox.store
        try:
            info = store.session(ask.session)
        except StoreError:
            info = None
        if record is None or info is None or info.station != ask.station:
            self.replays_refused += 1
            log.warning("MQTT: replay of %s session %d refused: not a session of this gateway",
                        ask.station, ask.session)  # fmt: skip
            return
        topic = (
            self.topics.telemetry(ask.station)
            if ask.stream == "telemetry"
            else self.topics.heart_rate(ask.station)
        )
        rows = store.read(ask.session, ask.stream, ask.from_seq, ask.to_seq - ask.from_seq + 1)
        for row in rows:
            self.events.put(Outgoing(topic, row.payload))
        self.replayed += len(rows)

    def _session_of(self, station: str) -> int | None:
        record = self.outbox.records.get(station)
        return record.session if record is not None else None

    async def sessions(self, client: aiomqtt.Client) -> None:
        """Each station's session record (retained), as the store has it."""
        ts = self.outbox.wall(self.clock.now())
        for station, record in self.outbox.records.items():
            if station not in self.stations:
                continue
            info = self.outbox.store.session(record.session)
            body = SessionPayload(
                ts=ts,
                gateway=info.gateway,
                session=info.id,
                started=info.started,
                ended=info.ended,
                plan=info.plan,
                telemetry_seq=self.outbox.store.last_seq(info.id, "telemetry"),
                heart_rate_seq=self.outbox.store.last_seq(info.id, "heart_rate"),
            ).model_dump_json()
            await client.publish(self.topics.session(station), body, qos=1, retain=True)

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Wait (briefly) until everything queued and stored has reached the broker."""
        try:
            async with asyncio.timeout(timeout_s):
                while self.outbox_depth():
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            pass


def _turning_point(snap: Snapshot) -> tuple[object, ...]:
    """What must reach the runner's screens at once when it changes."""
    return (snap.direction, snap.phase, snap.segment.index if snap.segment else None)
