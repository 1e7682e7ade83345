"""The command surface as an outside client finds it (issue 12), against a real mosquitto.

Each probe was seen to get past a check or stall the gateway; each test
asserts on what a subscriber actually received and on the control-point
writes that reached the simulated treadmill.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.config import MqttConfig, Settings
from gateway.ftms import ControlOp, ControlPointRequest
from gateway.mqtt.bridge import StationClash
from gateway.mqtt.broker import credentials
from gateway.service import RunOptions
from tests.support.gateway import running_gateway, settings_for
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.observer import Observer, observing

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

CMD = "retrogate/sim/cmd"
RESULTS = "retrogate/sim/cmd/result"
TELEMETRY = "retrogate/sim/telemetry"
MOVING = {ControlOp.SET_TARGET_SPEED, ControlOp.START_OR_RESUME}


def answers(watcher: Observer) -> dict[str | None, list[dict[str, object]]]:
    by_id: dict[str | None, list[dict[str, object]]] = {}
    for topic, payload, _ in watcher.messages:
        if topic == RESULTS:
            body = json.loads(payload)
            by_id.setdefault(body["id"], []).append(body)
    return by_id


def v5_reply_to(topic: str) -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ResponseTopic = topic
    props.CorrelationData = b"c"
    return props


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_a_retained_command_is_refused_live_too(
    broker: Mosquitto, tmp_path: Path, protocol: str
) -> None:
    """Defect: over MQTT 3.1.1 a `mosquitto_pub -r` start was obeyed, and stayed retained."""
    writes: list[ControlPointRequest] = []
    watcher = Observer(broker.port, topics=(RESULTS,))
    async with observing(watcher):
        settings = settings_for(broker.port, tmp_path / "data", protocol=protocol)
        options = RunOptions(sim=True, on_write=lambda _, r: writes.append(r))
        async with running_gateway(settings, options):
            async with aiomqtt.Client(
                "127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V311
            ) as client:
                await client.publish(CMD, b'{"id": "r", "cmd": "start"}', qos=1, retain=True)
                await client.publish(CMD, b'{"id": "live", "cmd": "set_incline", "value": 1}')
            await watcher.wait_for(lambda: {"r", "live"} <= set(answers(watcher)))
        async with aiomqtt.Client("127.0.0.1", broker.port) as late:
            await late.subscribe(CMD)
            leftover = await asyncio.wait_for(_first_retained(late), 2.0)
    got = answers(watcher)
    assert [a["ok"] for a in got["r"]] == [False]  # one answer, a refusal
    assert "retained" in str(got["r"][0]["error"])
    assert [a["ok"] for a in got["live"]] == [True]  # a live command right after still works
    assert not [w for w in writes if w.op is ControlOp.START_OR_RESUME]
    assert leftover is None  # and it no longer sits on the broker


async def _first_retained(client: aiomqtt.Client) -> bytes | None:
    """The retained message a fresh subscriber gets, or None (answered by a fence)."""
    await client.publish("probe/fence", b"x")
    await client.subscribe("probe/fence")
    await client.publish("probe/fence", b"x")
    async for message in client.messages:
        if message.topic.value == CMD and message.retain and message.payload:
            return bytes(message.payload)
        if message.topic.value == "probe/fence":
            return None
    return None


async def test_duplicate_keys_future_stamps_and_v(broker: Mosquitto, tmp_path: Path) -> None:
    writes: list[ControlPointRequest] = []
    watcher = Observer(broker.port, topics=(RESULTS,))
    now = time.time()
    async with observing(watcher):
        options = RunOptions(sim=True, on_write=lambda _, r: writes.append(r))
        async with running_gateway(settings_for(broker.port, tmp_path / "data"), options):
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.publish(CMD, b'{"id": "d", "cmd": "confirm", "cmd": "start"}', qos=1)
                future = {"id": "f", "cmd": "start", "ts": now + 3600}
                await client.publish(CMD, json.dumps(future), qos=1)
                skew = {"id": "s", "cmd": "set_incline", "value": 1, "ts": now + 1.0}
                await client.publish(CMD, json.dumps(skew), qos=1)
                versioned = {"v": 1, "id": "v", "cmd": "set_incline", "value": 2}
                await client.publish(CMD, json.dumps(versioned), qos=1)
            await watcher.wait_for(lambda: len(answers(watcher)) >= 4)
    got = answers(watcher)
    assert "appears twice" in str(got[None][0]["error"])
    assert "in the future" in str(got["f"][0]["error"])
    assert got["s"][0]["ok"] is True  # within the allowed skew
    assert got["v"][0]["ok"] is True
    assert not [w for w in writes if w.op is ControlOp.START_OR_RESUME]


async def test_stale_and_repeated_workout_commands_do_not_move_the_belt(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Defect: a load_plan an hour old started the belt; next_segment twice skipped two."""
    writes: list[ControlPointRequest] = []
    watcher = Observer(broker.port, topics=(RESULTS,))
    stale = {
        "id": "s1",
        "cmd": "load_plan",
        "value": "intro-backward-walk",
        "ts": time.time() - 3600,
        "ttl_ms": 1000,
    }
    async with observing(watcher):
        options = RunOptions(sim=True, on_write=lambda _, r: writes.append(r))
        async with running_gateway(settings_for(broker.port, tmp_path / "data"), options):
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.publish(CMD, json.dumps(stale), qos=1)
                for _ in range(2):
                    await client.publish(CMD, b'{"id": "n1", "cmd": "next_segment"}', qos=1)
                for i, value in enumerate(("/dev/zero", "plan\u0000.toml", "../x")):
                    body = {"id": f"p{i}", "cmd": "load_plan", "value": value}
                    await client.publish(CMD, json.dumps(body), qos=1)
            await watcher.wait_for(lambda: sum(map(len, answers(watcher).values())) >= 6)
    got = answers(watcher)
    assert "expired" in str(got["s1"][0]["error"])
    assert len(got["n1"]) == 2
    assert "already handled" in str(got["n1"][1]["error"])
    for key in ("p0", "p1", "p2"):
        assert "letters, digits" in str(got[key][0]["error"])
    assert not [w for w in writes if w.op in MOVING]


async def test_a_plan_loaded_while_one_runs_is_no_lost_control_and_no_stray_answer(
    broker: Mosquitto, tmp_path: Path
) -> None:
    watcher = Observer(broker.port, topics=(RESULTS, "retrogate/sim/alerts", TELEMETRY))
    async with observing(watcher):
        options = RunOptions(sim=True)
        async with (
            running_gateway(settings_for(broker.port, tmp_path / "data"), options),
            aiomqtt.Client("127.0.0.1", broker.port) as client,
        ):
            for i in (1, 2):
                body = {"id": f"l{i}", "cmd": "load_plan", "value": "intro-backward-walk"}
                await client.publish(CMD, json.dumps(body), qos=1)
                await watcher.wait_for(lambda i=i: f"l{i}" in answers(watcher))  # type: ignore[misc]
            seen = len(watcher.messages)
            await watcher.wait_for(  # some seconds of running after the second plan
                lambda: sum(1 for t, _, _ in watcher.messages[seen:] if t == TELEMETRY) >= 5
            )
    alerts = [json.loads(p)["code"] for t, p, _ in watcher.messages if t.endswith("/alerts")]
    got = answers(watcher)
    assert [a["ok"] for a in got["l1"] + got["l2"]] == [True, True]
    assert set(got) == {"l1", "l2"}  # no answer to a command nobody sent (plan-start-…)
    assert "control_lost" not in alerts


@pytest.mark.parametrize(
    "reply_to",
    ["x/#", "retrogate/sim/telemetry", CMD, "retrogate/reply/+", "$SYS/x"],
)
async def test_a_bad_response_topic_is_refused_and_the_gateway_goes_on(
    broker: Mosquitto, tmp_path: Path, reply_to: str
) -> None:
    """Defect: `x/#` ended all MQTT output silently; others published with the gateway's rights."""
    writes: list[ControlPointRequest] = []
    watcher = Observer(broker.port, topics=(RESULTS, TELEMETRY, CMD))
    async with observing(watcher):
        options = RunOptions(sim=True, on_write=lambda _, r: writes.append(r))
        async with running_gateway(settings_for(broker.port, tmp_path / "data"), options):
            async with aiomqtt.Client(
                "127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5
            ) as client:
                await client.publish(
                    CMD,
                    b'{"id": "bad", "cmd": "set_incline", "value": 1}',
                    qos=1,
                    properties=v5_reply_to(reply_to),
                )
                await watcher.wait_for(lambda: "bad" in answers(watcher))
                await client.subscribe("retrogate/reply/me")
                await client.publish(
                    CMD,
                    b'{"id": "good", "cmd": "set_incline", "value": 2}',
                    qos=1,
                    properties=v5_reply_to("retrogate/reply/me"),
                )
                reply = await asyncio.wait_for(anext(client.messages), 10)
            seen = len([1 for t, _, _ in watcher.messages if t == TELEMETRY])
            await watcher.wait_for(
                lambda: len([1 for t, _, _ in watcher.messages if t == TELEMETRY]) > seen + 2
            )
    got = answers(watcher)
    assert [a["ok"] for a in got["bad"]] == [False]
    assert "response_topic" in str(got["bad"][0]["error"])
    assert json.loads(bytes(reply.payload))["id"] == "good"
    forged = [p for t, p, _ in watcher.messages if t in (TELEMETRY, CMD) and b'"ok"' in p]
    assert forged == []  # nothing published into the gateway's own topics
    inclines = [w.target_incline_pct for w in writes if w.op is ControlOp.SET_TARGET_INCLINATION]
    assert inclines == [2.0]  # the refused command changed nothing


async def test_the_embedded_broker_refuses_a_retained_command_too(tmp_path: Path) -> None:
    """amqtt (the no-install embedded broker) speaks only MQTT 3.1.1."""
    writes: list[ControlPointRequest] = []
    port = free_port()
    settings = Settings(
        gateway_id="gw",
        data_dir=tmp_path / "data",
        mqtt=MqttConfig(broker="embedded", port=port, embedded="amqtt"),
    )
    options = RunOptions(sim=True, on_write=lambda _, r: writes.append(r))
    async with running_gateway(settings, options):
        watcher = Observer(port, topics=(RESULTS,))
        async with observing(watcher):
            async with aiomqtt.Client(
                "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V311
            ) as client:
                await client.publish(CMD, b'{"id": "r", "cmd": "start"}', qos=1, retain=True)
                await client.publish(CMD, b'{"id": "live", "cmd": "set_incline", "value": 1}')
            await watcher.wait_for(lambda: {"r", "live"} <= set(answers(watcher)))
    got = answers(watcher)
    assert [a["ok"] for a in got["r"]] == [False]
    assert "retained" in str(got["r"][0]["error"])
    assert [a["ok"] for a in got["live"]] == [True]
    assert not [w for w in writes if w.op is ControlOp.START_OR_RESUME]


async def test_two_gateways_cannot_serve_one_station_id(broker: Mosquitto, tmp_path: Path) -> None:
    """Defect: both obeyed one command (two answers)."""
    watcher = Observer(broker.port, topics=(RESULTS,))
    async with observing(watcher):
        first = settings_for(broker.port, tmp_path / "a")
        async with running_gateway(first, RunOptions(sim=True)):
            second = settings_for(broker.port, tmp_path / "b").model_copy(
                update={"gateway_id": "gw2"}
            )
            with pytest.raises(StationClash, match=r"station 'sim' is already served by .*'gw'"):
                async with running_gateway(second, RunOptions(sim=True)):
                    pass
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.publish(CMD, b'{"id": "once", "cmd": "set_incline", "value": 1}')
            await watcher.wait_for(lambda: "once" in answers(watcher))
        # The first one has stopped (its status says offline): the second may take over.
        async with running_gateway(second, RunOptions(sim=True)):
            pass
    assert len(answers(watcher)["once"]) == 1


async def test_the_embedded_broker_is_a_private_mosquitto_with_a_password(
    tmp_path: Path,
) -> None:
    """Defects of the amqtt default: no password, QoS 0 commands from mosquitto_pub lost,
    retained messages sent to unrelated subscriptions, no MQTT 5 (mosquitto_rr hung)."""
    port = free_port()
    data = tmp_path / "data"
    settings = Settings(
        gateway_id="gw", data_dir=data, mqtt=MqttConfig(broker="embedded", port=port)
    )
    async with running_gateway(settings, RunOptions(sim=True)) as service:
        assert service.broker is not None
        assert service.broker.kind == "mosquitto"
        login = credentials(data)
        assert login is not None
        user, password = login
        with pytest.raises(aiomqtt.MqttCodeError, match=r"[Nn]ot authori[sz]ed"):
            async with aiomqtt.Client("127.0.0.1", port) as anonymous:
                await anonymous.publish(CMD, b'{"id": "x", "cmd": "start"}')
        common = ["-h", "127.0.0.1", "-p", str(port), "-u", user, "-P", password]
        reply = await _run(  # the docs' example: MQTT 5 request/response
            "mosquitto_rr",
            *common,
            "-V",
            "5",
            "-t",
            CMD,
            "-e",
            "retrogate/reply/me",
            "-m",
            '{"id": "rr-1", "cmd": "set_incline", "value": 1}',
            "-W",
            "10",
        )
        assert json.loads(reply)["id"] == "rr-1"
        watcher = Observer(port, username=user, password=password, topics=(RESULTS,))
        async with observing(watcher):
            await _run(  # QoS 0 from a short-lived client, as in docs/mqtt.md
                "mosquitto_pub",
                *common,
                "-t",
                CMD,
                "-m",
                '{"id": "q0", "cmd": "set_incline", "value": 2}',
            )
            await watcher.wait_for(lambda: "q0" in answers(watcher))
        unrelated = Observer(port, username=user, password=password, topics=("nothing/#",))
        async with observing(unrelated):
            await _run("mosquitto_pub", *common, "-t", "nothing/here", "-m", "x")
            await unrelated.wait_for(lambda: bool(unrelated.messages))
    assert answers(watcher)["q0"][0]["ok"] is True
    assert [t for t, _, _ in unrelated.messages] == ["nothing/here"]  # no retrogate/… leaked


async def _run(*command: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_the_amqtt_fallback_sends_no_retained_message_to_an_unrelated_subscriber(
    tmp_path: Path,
) -> None:
    """Defect: a `nothing/#` subscriber received every retained retrogate/… message."""
    port = free_port()
    settings = Settings(
        gateway_id="gw",
        data_dir=tmp_path / "data",
        mqtt=MqttConfig(broker="embedded", port=port, embedded="amqtt"),
    )
    async with running_gateway(settings, RunOptions(sim=True)):
        state = Observer(port, identifier="state", topics=("retrogate/sim/state",))
        async with observing(state):
            await state.wait_for(lambda: bool(state.messages))  # retained state exists
        unrelated = Observer(port, identifier="unrelated", topics=("nothing/#",))
        async with observing(unrelated), aiomqtt.Client("127.0.0.1", port) as client:
            await client.publish("nothing/here", b"x", qos=1)
            await unrelated.wait_for(lambda: bool(unrelated.messages))
        watcher = Observer(port, identifier="results", topics=(RESULTS,))
        async with observing(watcher):  # the documented way with amqtt: QoS 1
            await _run(
                "mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", CMD,
                "-m", '{"id": "q1", "cmd": "set_incline", "value": 2}',
            )  # fmt: skip
            await watcher.wait_for(lambda: "q1" in answers(watcher))
    assert [t for t, _, _ in unrelated.messages] == ["nothing/here"]
    assert answers(watcher)["q1"][0]["ok"] is True


REPLAYS: dict[str, object] = {
    "start": None,
    "pause": None,
    "stop": None,
    "set_speed": 4.0,
    "set_incline": 2.0,
    "set_direction": "backward",
    "set_cap": 4.0,
    "confirm": None,
    "next_segment": None,
    "load_plan": "intro-backward-walk",
    "set_hr_target": "zone 2",
}


async def test_an_id_refused_in_any_way_is_refused_when_replayed_with_any_command(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Defect (issue 23): an id refused for rate or as expired was forgotten; the same
    id then started the belt. Every way a command is refused (the rate limit, expired,
    retained, a bad field, a clock in the future, a reply topic outside the namespace),
    then every kind of command under that id: refused as already handled, and nothing
    reaches the treadmill."""
    writes: list[ControlPointRequest] = []
    watcher = Observer(broker.port, topics=(RESULTS,))
    now = time.time()
    firsts: list[tuple[str, dict[str, object], bool, Properties | None]] = []
    for kind in REPLAYS:
        base: dict[str, object] = {"cmd": kind}
        firsts += [
            (f"expired-{kind}", base | {"ts": now - 3600, "ttl_ms": 1000}, False, None),
            (f"retained-{kind}", base, True, None),
            (f"field-{kind}", base | {"value": [1]}, False, None),
            (f"future-{kind}", base | {"ts": now + 3600}, False, None),
            (f"reply-{kind}", base, False, v5_reply_to("retrogate/sim/telemetry")),
        ]
    async with observing(watcher):
        options = RunOptions(sim=True, on_write=lambda _, r: writes.append(r))
        settings = settings_for(broker.port, tmp_path / "data")
        v5 = aiomqtt.ProtocolVersion.V5
        async with (
            running_gateway(settings, options),
            aiomqtt.Client("127.0.0.1", broker.port, protocol=v5) as client,
        ):
            # 20 harmless commands, then one of each kind inside the same second
            await asyncio.gather(
                *(
                    client.publish(CMD, json.dumps({"id": f"fill{i}", "cmd": "confirm"}), qos=1)
                    for i in range(20)
                )
            )
            for kind in REPLAYS:
                await client.publish(CMD, json.dumps({"id": f"rate-{kind}", "cmd": kind}), qos=1)
            for cid, first, retain, props in firsts:
                raw = json.dumps(first | {"id": cid})
                await client.publish(CMD, raw, qos=1, retain=retain, properties=props)
            ids = [f"rate-{k}" for k in REPLAYS] + [cid for cid, *_ in firsts]
            await watcher.wait_for(lambda: all(i in answers(watcher) for i in ids))
            assert writes, "the gateway holds control of the simulator"
            before = len(writes)
            for cid in ids:
                for kind, value in REPLAYS.items():
                    replay = {"id": cid, "cmd": kind, "value": value, "ts": time.time()}
                    await client.publish(CMD, json.dumps(replay), qos=1)
            total = len(ids) * (1 + len(REPLAYS))
            await watcher.wait_for(
                lambda: sum(len(answers(watcher).get(i, [])) for i in ids) >= total, within=60
            )
    got = answers(watcher)
    for cid in ids:
        first, *again = got[cid]
        assert first["ok"] is False, (cid, first)
        assert [a["error"] for a in again] == [f"command {cid!r} was already handled"] * len(
            REPLAYS
        ), cid
    assert all("more than 20 commands" in str(got[f"rate-{k}"][0]["error"]) for k in REPLAYS)
    assert [w for w in writes[before:] if w.op in MOVING | {ControlOp.SET_TARGET_INCLINATION}] == []
