"""The gateway's MQTT connection: one per gateway, reconnecting, supervised.

It composes three parts, each testable alone: the ``Publisher`` (streams,
state, events, answers), the ``CommandReader`` (commands in, to each
station's ``submit``) and ``Discovery`` (Home Assistant). Each
(re)connection runs them in one TaskGroup; a disconnect ends the group and
the loop reconnects with jittered exponential backoff. Nothing here is on
the governor's path: stations run the same with no broker at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterable
from importlib.metadata import version

import aiomqtt

from ..backoff import Backoff
from ..clock import Clock
from ..config import MqttConfig
from ..contract.topics import Topics
from ..errors import RetrogateError
from ..hub import HubMessage
from .discovery import Discovery
from .ports import Outbox, StationPort
from .publisher import Publisher
from .reader import CommandReader
from .tls import tls_parameters

log = logging.getLogger(__name__)
# aiomqtt warns at more than ten unacknowledged publishes; the stream sender
# keeps up to BATCH in flight on purpose.
_client_log = logging.getLogger(f"{__name__}.client")
_client_log.addFilter(lambda record: "pending publish calls" not in record.getMessage())


def _no_delay(client: aiomqtt.Client) -> None:
    """Turn Nagle off: a PUBACK then an answer are two small writes, and with
    Nagle the answer waits for the broker's delayed ACK (~40 ms). Measured in
    tests/bench/mqtt_figures.py ``answers``: QoS 1 answers 43 ms -> about 2 ms."""
    sock = client._client.socket()
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class StationClash(RetrogateError):
    """Another gateway, online on the same broker, serves a station with our id."""


class MqttBridge:
    """Publishes every station on the broker and hands its commands to the stations."""

    def __init__(
        self,
        cfg: MqttConfig,
        gateway: str,
        stations: list[StationPort],
        outbox: Outbox,
        clock: Clock,
        *,
        host: str,
        protocol: str,
    ) -> None:
        self.cfg = cfg
        self.topics = Topics(cfg.prefix, gateway)
        self.stations = {s.id: s for s in stations}
        self.host = host
        self.protocol = (
            aiomqtt.ProtocolVersion.V5 if protocol == "5" else aiomqtt.ProtocolVersion.V311
        )
        v5 = self.protocol == aiomqtt.ProtocolVersion.V5
        self.connected = asyncio.Event()
        self._counters = {"reconnects": 0, "connects": 0, "crashes": 0}
        self.publisher = Publisher(
            cfg, self.topics, self.stations, outbox, clock, v5=v5, counters=lambda: self.counters
        )
        self.reader = CommandReader(
            self.topics,
            self.stations,
            clock,
            v5=v5,
            answer=self.publisher.answer,
            expect_reply=self.publisher.expect_reply,
        )
        caps = {sid: port.backward_cap_kmh for sid, port in self.stations.items()}
        hubs = {sid: port.hub for sid, port in self.stations.items()}
        self.discovery = Discovery(
            cfg.discovery_prefix, self.topics, caps, version("retrogate"), hubs
        )
        self._stop = asyncio.Event()
        self._unsubscribe = [*self.publisher.listen(), *self.discovery.listen()]

    def replay(self, station: str, messages: Iterable[HubMessage]) -> None:
        """Decisions, alerts and answers of a station from before the bridge existed."""
        self.publisher.replay(station, messages)

    @property
    def counters(self) -> dict[str, int]:
        """Connections, commands and publish errors, for ``diag`` and the tests."""
        return {
            **self._counters,
            "commands": self.reader.commands,
            "commands_refused": self.reader.refused,
            "publish_errors": self.publisher.publish_errors,
        }

    def outbox_depth(self) -> int:
        """Stored stream messages not yet acknowledged by the broker, plus queued events."""
        return self.publisher.outbox_depth()

    # --- lifecycle -------------------------------------------------------------------------

    async def check_ownership(self, timeout_s: float = 5.0) -> None:
        """Refuse to start if another online gateway owns one of our station ids.

        Two gateways whose stations share an id would both obey every
        command. Each station has a retained owner record; a record of
        another gateway whose status is ``online`` stops this one here. An
        unreachable broker is no clash (the bridge keeps trying later). With
        ``[mqtt.bridge]`` the site's central broker is asked too: it holds
        the owner record of every gateway's stations (docs/gym.md).
        """
        if self.cfg.bridge is not None:  # first: it knows every gateway of the site
            central = self.cfg.bridge
            where = f"the central broker {central.address}:{central.port}"
            found = await self._check_owners(self._central_client(), where, timeout_s)
            if not found:
                log.warning(
                    "MQTT: the central broker %s:%d cannot be reached: station ids are not "
                    "checked against the other gateways' now",
                    central.address,
                    central.port,
                )
        local = f"{self.host}:{self.cfg.port}"
        await self._check_owners(self._client(suffix="-claim", will=False), local, timeout_s)

    def _central_client(self) -> aiomqtt.Client:
        """A short connection to the site's central broker, with the bridge's login."""
        c = self.cfg.bridge
        assert c is not None
        return aiomqtt.Client(
            c.address,
            c.port,
            username=c.username,
            password=c.password.get_secret_value() if c.password else None,
            identifier=f"retrogate-{self.topics.gateway}-claim",
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=True,
            tls_params=tls_parameters(c.ca_file, c.cert_file, c.key_file),
            timeout=10,
            logger=_client_log,
        )

    async def _check_owners(self, claim: aiomqtt.Client, where: str, timeout_s: float) -> bool:
        """The owner records on one broker; StationClash on a clash. False: unreachable."""
        owners: dict[str, str] = {}
        statuses: dict[str, str] = {}
        fence = f"{self.topics.fence}/claim"
        try:
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
            return False
        for station, owner in owners.items():
            online = statuses.get(self.topics.status_of(owner)) == "online"
            if owner and owner != self.topics.gateway and online:
                raise StationClash(
                    f"station {station!r} is already served by gateway {owner!r} on "
                    f"{where}: give this station another id, or stop that gateway"
                )
        return True

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
                self._counters["crashes"] += 1
                log.error(
                    "MQTT: unexpected error, restarting the connection: %r",
                    reason,
                    exc_info=reason if self._counters["crashes"] == 1 else None,
                )
            self.connected.clear()
            self._counters["reconnects"] += 1
            delay = backoff.next()
            hint = (
                " (is the broker running? `retrogate doctor` checks)"
                if self._counters["connects"] == 0 and self._counters["reconnects"] == 1
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
        self._counters["connects"] += 1
        _no_delay(client)
        await client.publish(self.topics.gateway_status, b"online", qos=1, retain=True)
        for station in self.stations:
            owner = self.topics.gateway.encode()
            await client.publish(self.topics.owner(station), owner, qos=1, retain=True)
        await self.reader.on_connect(client)
        await client.subscribe(self.topics.replay, qos=1)
        await self.publisher.sessions(client)
        if self.cfg.discovery:
            await client.subscribe(self.discovery.ha_status, qos=1)
            await self.discovery.send(client)
        self.connected.set()
        log.info("MQTT: connected to %s:%d", self.host, self.cfg.port)
        async with asyncio.TaskGroup() as tg:
            workers = [tg.create_task(self._read(client), name="mqtt-reader")]
            if self.cfg.discovery:
                workers.append(tg.create_task(self._rediscover(client), name="mqtt-discovery"))
            workers += self.publisher.workers(client, tg)
            await self._stop.wait()
            await self._goodbye(client)
            for worker in workers:
                worker.cancel()

    async def _rediscover(self, client: aiomqtt.Client) -> None:
        """Send discovery again when what it says changed (the treadmill's range)."""
        while True:
            await self.discovery.stale.wait()
            self.discovery.stale.clear()
            if self.discovery.changed():
                await self.discovery.send(client)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if message.topic.value == self.discovery.ha_status:
                if message.payload == b"online":
                    await self.discovery.send(client)
                continue
            if message.topic.value == self.topics.replay:
                if isinstance(message.payload, bytes) and not message.retain:
                    self.publisher.send_again(message.payload)
                continue
            await self.reader.handle(client, message)

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """A clean stop: drain what is queued (briefly), then say offline ourselves."""
        await self.publisher.drain()
        await self.publisher.last_states(client)
        for station in self.stations:
            for device in ("treadmill", "hrm"):
                await client.publish(
                    self.topics.availability(station, device), b"offline", qos=1, retain=True
                )
        await client.publish(self.topics.gateway_status, b"offline", qos=1, retain=True)
