"""The MQTT contract against a real mosquitto: streams, state, discovery, commands.

The gateway runs in-process with the simulator at 20x; the observer is a
separate MQTT client, as any consumer would be.
"""

from __future__ import annotations

import json
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.contract.payloads import SessionPayload, StatePayload, TelemetryPayload
from gateway.ftms import ControlOp, ControlPointRequest
from gateway.service import RunOptions
from tests.support.gateway import running_gateway, settings_for
from tests.support.mosquitto import Mosquitto
from tests.support.observer import Observer, gaps, observing

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

TELEMETRY = "retrogate/sim/telemetry"
RESULTS = "retrogate/sim/cmd/result"


def results(observer: Observer) -> list[dict[str, object]]:
    return [json.loads(p) for t, p, _ in observer.messages if t == RESULTS]


async def test_streams_state_and_discovery_reach_a_subscriber(
    broker: Mosquitto, tmp_path: Path
) -> None:
    watcher = Observer(broker.port, topics=("retrogate/#", "homeassistant/#"))
    async with observing(watcher):
        settings = settings_for(broker.port, tmp_path / "data")
        async with running_gateway(settings, RunOptions(sim=True)):
            await watcher.wait_for(lambda: len(watcher.seqs[TELEMETRY]) >= 20)
            await watcher.wait_for(lambda: "retrogate/sim/state" in watcher.last)
            discovery = [t for t, _, _ in watcher.messages if t.startswith("homeassistant/")]
            # Home Assistant restarting asks for discovery again.
            async with aiomqtt.Client("127.0.0.1", broker.port) as ha:
                await ha.publish("homeassistant/status", b"online", qos=1)
            await watcher.wait_for(
                lambda: (
                    len([t for t, _, _ in watcher.messages if t.startswith("homeassistant/")])
                    > len(discovery)
                )
            )
        # A clean stop says offline itself and flushes the stream.
        await watcher.wait_for(
            lambda: watcher.last.get("retrogate/gateways/gw/status") == b"offline"
        )
    assert watcher.last["retrogate/sim/treadmill/availability"] == b"offline"
    assert gaps(watcher.seqs[TELEMETRY]) == []
    last = TelemetryPayload.model_validate_json(
        next(p for t, p, _ in reversed(watcher.messages) if t == TELEMETRY)
    )
    # the session record: live at the start, ended by the clean stop (issue 28)
    records = [SessionPayload.model_validate_json(p) for t, p, _ in watcher.messages
               if t == "retrogate/sim/session"]  # fmt: skip
    assert records[0].ended is None
    assert records[-1].ended is not None
    assert (last.gateway, last.session) == ("gw", records[-1].session)
    state = StatePayload.model_validate(watcher.json("retrogate/sim/state"))
    assert state.cap_kmh == 6.0
    config = watcher.json(discovery[0])
    assert config["availability_mode"] == "all"
    assert {"speed", "distance", "energy", "heart_rate", "cap_active", "start"} <= set(
        config["cmps"]
    )
    assert config["cmps"]["speed"]["device_class"] == "speed"
    diag = watcher.json("retrogate/gateways/gw/diag")
    assert diag["v"] == 1
    assert diag["reconnects"] == 0


async def test_every_command_gets_one_answer_and_v5_replies_carry_the_correlation(
    broker: Mosquitto, tmp_path: Path
) -> None:
    watcher = Observer(broker.port, topics=(RESULTS, "retrogate/sim/state"))
    async with observing(watcher):
        settings = settings_for(broker.port, tmp_path / "data")
        async with running_gateway(settings, RunOptions(sim=True)):
            async with aiomqtt.Client(
                "127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5
            ) as client:
                await client.publish("retrogate/sim/cmd", b'{"id": "go", "cmd": "start"}', qos=1)
                await client.publish(
                    "retrogate/sim/cmd", b'{"id": "fast", "cmd": "set_speed", "value": 3}', qos=1
                )
                await client.publish("retrogate/sim/cmd", b"{oops", qos=1)
                props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                props.ResponseTopic = "retrogate/reply/me"
                props.CorrelationData = b"corr-1"
                await client.subscribe("retrogate/reply/me", qos=1)
                await client.publish(
                    "retrogate/sim/cmd",
                    b'{"id": "asked", "cmd": "set_incline", "value": 1}',
                    qos=1,
                    properties=props,
                )
                reply = await anext(client.messages)
                assert reply.properties is not None
                assert reply.properties.CorrelationData == b"corr-1"  # type: ignore[attr-defined]
                assert isinstance(reply.payload, bytes)
                assert json.loads(reply.payload)["id"] == "asked"
            await watcher.wait_for(lambda: len(results(watcher)) >= 4)
            # The treadmill itself reports the new target (published in state).
            await watcher.wait_for(
                lambda: (
                    "retrogate/sim/state" in watcher.last
                    and watcher.json("retrogate/sim/state")["target_kmh"] == 3.0
                )
            )
    by_id = {r["id"]: r for r in results(watcher)}
    assert by_id["go"]["ok"] is True
    assert by_id["fast"] == {"v": 1, "id": "fast", "ok": True, "applied": "target 3.00 km/h"}
    assert by_id[None]["ok"] is False
    assert "not JSON" in str(by_id[None]["error"])
    assert by_id["asked"]["ok"] is True


async def test_a_retained_command_is_refused_and_never_moves_the_belt(
    broker: Mosquitto, tmp_path: Path
) -> None:
    writes: list[ControlPointRequest] = []
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:  # left before we start
        await client.publish(
            "retrogate/sim/cmd", b'{"id": "old", "cmd": "set_speed", "value": 9}', retain=True
        )
    watcher = Observer(broker.port, topics=(RESULTS,))
    async with observing(watcher):
        settings = settings_for(broker.port, tmp_path / "data")
        options = RunOptions(sim=True, on_write=lambda _, r: writes.append(r))
        async with running_gateway(settings, options):
            await watcher.wait_for(lambda: len(results(watcher)) >= 1)
    assert results(watcher)[0]["id"] == "old"
    assert "retained" in str(results(watcher)[0]["error"])
    assert not [w for w in writes if w.op is ControlOp.SET_TARGET_SPEED]
