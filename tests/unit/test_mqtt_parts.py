"""The MQTT side's three parts, each alone: no broker, no station runtime.

The command reader gets real ``aiomqtt.Message`` objects and a station port
whose ``submit`` records what reached the station's door; the publisher
gets a real hub and an outbox; discovery is read as Home Assistant would.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import cast

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.clock import LoopClock
from gateway.config import MqttConfig
from gateway.contract.payloads import CommandResultPayload, read
from gateway.contract.topics import Topics
from gateway.hub import AlertMessage, Hub, ResultMessage, Snapshot
from gateway.mqtt.discovery import Discovery
from gateway.mqtt.ports import Outgoing, Reply, StationPort
from gateway.mqtt.publisher import Publisher
from gateway.mqtt.reader import CommandReader
from gateway.safety.actions import Alert, CommandResult, Level
from gateway.safety.direction import Direction
from gateway.safety.events import Command, CommandKind, RefusedCommand
from gateway.store.db import SessionStore, Stream
from gateway.store.recorder import StationRecord

T = Topics("retrogate", "gw")


class Door:
    """A station port whose door remembers what came through."""

    def __init__(self) -> None:
        self.submitted: list[Command | RefusedCommand] = []
        self.answers: list[tuple[str, CommandResultPayload, Reply | None]] = []
        self.replies: dict[str, Reply] = {}
        self.port = StationPort("tm1", Hub(Snapshot("tm1")), self.submitted.append, 6.0)

    def reader(self, *, v5: bool = True) -> CommandReader:
        return CommandReader(
            T,
            {"tm1": self.port},
            LoopClock(),
            v5=v5,
            answer=lambda s, r, reply: self.answers.append((s, r, reply)),
            expect_reply=self.replies.__setitem__,
        )


def message(body: object, *, response_topic: str | None = None) -> aiomqtt.Message:
    props = None
    if response_topic is not None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = response_topic
        props.CorrelationData = b"c-1"
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return aiomqtt.Message(T.command("tm1"), raw, 1, False, 1, props)


async def test_a_good_command_goes_through_the_stations_door_and_nothing_else() -> None:
    door = Door()
    reader = door.reader()
    reader.take("tm1", message({"id": "a", "cmd": "set_speed", "value": 5.5, "ts": time.time()}))
    [submitted] = door.submitted
    assert isinstance(submitted, Command)
    assert (submitted.id, submitted.kind, submitted.value) == ("a", CommandKind.SET_SPEED, 5.5)
    assert door.answers == []  # the governor answers, through the hub
    assert (reader.commands, reader.refused) == (1, 0)


async def test_a_bad_command_never_reaches_the_station_as_a_command() -> None:
    """Without an id it is answered here; with one, the id goes to the governor to be
    spent (a later command with that id is refused there), never a command."""
    door = Door()
    reader = door.reader()
    for body in (b"{nope", {"id": "b", "cmd": "set_speed", "value": True}, {"cmd": "fly"}):
        reader.take("tm1", message(body))
    assert [c for c in door.submitted if isinstance(c, Command)] == []
    assert [r.ok for _, r, _ in door.answers] == [False, False]
    [refused] = door.submitted
    assert isinstance(refused, RefusedCommand)
    assert (refused.id, "value" in refused.error) == ("b", True)
    assert reader.refused == 3


async def test_a_reply_topic_outside_the_namespace_is_refused() -> None:
    door = Door()
    reader = door.reader()
    body = {"id": "c", "cmd": "pause"}
    reader.take("tm1", message(body, response_topic=T.telemetry("tm1")))
    [refused] = door.submitted
    assert isinstance(refused, RefusedCommand)
    assert "reply namespace" in refused.error
    assert door.answers == []  # the governor answers, on …/cmd/result only
    assert door.replies == {}
    reader.take("tm1", message(body | {"id": "d"}, response_topic="retrogate/reply/me"))
    assert [(type(c).__name__, c.id) for c in door.submitted] == [
        ("RefusedCommand", "c"),
        ("Command", "d"),
    ]
    assert door.replies == {"d": ("retrogate/reply/me", b"c-1")}


class Store:
    """An outbox over a real session store on disk."""

    def __init__(self, store: SessionStore) -> None:
        self.records: dict[str, StationRecord] = {}
        self.store = store
        self.dropped = 0

    def wall(self, at: float) -> float:
        return 1_000.0 + at

    def ack(self, record: StationRecord, stream: Stream, seq: int) -> None:
        raise AssertionError("nothing is sent without a connection")


async def test_the_publisher_turns_hub_messages_into_contract_messages(tmp_path: Path) -> None:
    door = Door()
    store = SessionStore.in_dir(tmp_path)
    publisher = Publisher(MqttConfig(), T, {"tm1": door.port}, Store(store), LoopClock(), v5=True)
    unsubscribe = publisher.listen()
    publisher.expect_reply("r1", ("retrogate/reply/x", b"k"))
    hub = door.port.hub
    hub.publish(AlertMessage(2.0, Alert(Level.DANGER, "hr_ceiling", "slow down")))
    hub.publish(ResultMessage(3.0, CommandResult("r1", True, applied="5.5 km/h")))
    queued: list[Outgoing] = list(publisher.events.items)
    assert [q.topic for q in queued] == [
        T.alerts("tm1"),
        T.command_result("tm1"),
        "retrogate/reply/x",
    ]
    alert = read("alerts", str(queued[0].payload).encode())
    assert alert.model_dump()["ts"] == 1_002.0  # the session clock, as wall-clock time
    assert queued[2].correlation == b"k"
    assert publisher.outbox_depth() == 3
    for undo in unsubscribe:
        undo()
    store.close()


def test_discovery_is_one_retained_device_per_station_with_the_configured_cap() -> None:
    discovery = Discovery("homeassistant", T, {"tm1": 5.5, "tm2": 6.0}, "1.2.3")
    messages = dict(discovery.messages())
    assert sorted(messages) == [
        "homeassistant/device/retrogate_gw_tm1/config",
        "homeassistant/device/retrogate_gw_tm2/config",
    ]
    config = json.loads(messages["homeassistant/device/retrogate_gw_tm1/config"])
    assert config["cmps"]["backward_cap"]["max"] == 5.5
    assert config["cmps"]["start"]["command_topic"] == T.command("tm1")
    assert discovery.ha_status == "homeassistant/status"


class Recording:
    """What the publisher handed the connection, with the loop's time (looptime)."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str, bytes | str]] = []

    async def publish(self, topic: str, payload: bytes | str, **_: object) -> None:
        self.sent.append((asyncio.get_running_loop().time(), topic, payload))


async def connection(publisher: Publisher, client: aiomqtt.Client) -> None:
    """The publisher's senders for one connection, as the bridge starts them."""
    async with asyncio.TaskGroup() as tg:
        publisher.workers(client, tg)


@pytest.mark.looptime
async def test_a_direction_change_is_published_at_once_a_speed_change_at_most_once_a_second(
    tmp_path: Path,
) -> None:
    door = Door()
    store = SessionStore.in_dir(tmp_path)
    publisher = Publisher(MqttConfig(), T, {"tm1": door.port}, Store(store), LoopClock(), v5=True)
    publisher.listen()
    outbox = publisher.outbox
    assert isinstance(outbox, Store)
    none: dict[Stream, int] = {"telemetry": 0, "heart_rate": 0}
    outbox.records["tm1"] = StationRecord("tm1", 1, resumed=False, base=none, stored=dict(none))
    client = Recording()
    task = asyncio.create_task(connection(publisher, cast(aiomqtt.Client, client)))
    hub, loop = door.port.hub, asyncio.get_running_loop()
    await asyncio.sleep(0.1)
    t0 = loop.time()
    hub.update(speed_kmh=5.0)  # routine: waits for the 1 s throttle
    await asyncio.sleep(0.1)
    t1 = loop.time()
    hub.update(direction=Direction.BACKWARD)  # the runner must see this now
    await asyncio.sleep(2)
    assert not task.done(), task
    task.cancel()
    store.close()
    states = [(at, json.loads(body)) for at, topic, body in client.sent if topic == T.state("tm1")]
    backward_at = next(at for at, s in states if s["direction"] == "backward")
    speed_at = next(at for at, s in states if s["speed_kmh"] == 5.0)
    assert backward_at == pytest.approx(t1, abs=0.01)
    assert speed_at >= t0  # (it may ride along with the urgent one)


def test_every_discovered_component_carries_its_own_qos_and_no_dead_link() -> None:
    """Home Assistant ignores a device-level qos: each component must say QoS 1
    (commands and retained state must not be dropped), and the origin must not
    point at a repository that does not exist."""
    (_, body), *_ = Discovery("homeassistant", T, {"tm1": 6.0}, "1.2.3").messages()
    config = json.loads(body)
    assert {name: c.get("qos") for name, c in config["cmps"].items()} == dict.fromkeys(
        config["cmps"], 1
    )
    assert "url" not in config["o"]
    assert config["o"]["name"] == "retrogate"


def test_discovery_has_entities_for_the_turnaround_and_the_last_alert() -> None:
    (_, body), *_ = Discovery("homeassistant", T, {"tm1": 6.0}, "1.2.3").messages()
    cmps = json.loads(body)["cmps"]
    for key, field in (
        ("phase", "phase"),
        ("next_turnaround", "next_turn_s"),
        ("backward_left", "backward_left_m"),
        ("last_alert", "last_alert"),
    ):
        assert field in cmps[key]["value_template"], key
    assert cmps["phase"]["options"] == ["running", "turning", "dwell", "halted", "stopped"]


def test_the_target_speed_numbers_max_is_the_treadmills_own() -> None:
    door = Door()
    discovery = Discovery("homeassistant", T, {"tm1": 6.0}, "1.2.3", {"tm1": door.port.hub})
    discovery.listen()
    (_, before), *_ = discovery.messages()
    assert json.loads(before)["cmps"]["target_speed"]["max"] == 20.0  # not connected yet
    door.port.hub.update(speed_kmh=3.0)  # a routine change: nothing for discovery
    assert not discovery.stale.is_set()
    door.port.hub.update(max_kmh=16.0)  # the treadmill said its range
    assert discovery.stale.is_set()
    assert discovery.changed()
    (_, after), *_ = discovery.messages()
    assert json.loads(after)["cmps"]["target_speed"]["max"] == 16.0
    assert not discovery.changed()  # sent once per change


def test_home_assistant_has_a_problem_sensor_when_the_cap_is_not_enforced() -> None:
    """Issue 26: watch mode (or control lost) is a problem a dashboard can light up."""
    import jinja2

    (_, body), *_ = Discovery("homeassistant", T, {"tm1": 6.0}, "1.2.3").messages()
    sensor = json.loads(body)["cmps"]["watch_mode"]
    assert (sensor["p"], sensor["device_class"]) == ("binary_sensor", "problem")
    template = jinja2.Environment().from_string(sensor["value_template"])
    assert template.render(value_json={"control": "none"}) == "ON"
    assert template.render(value_json={"control": "lost"}) == "ON"
    assert template.render(value_json={"control": "held"}) == "OFF"
