"""Nothing lost, nothing let through: the reliability tests of issue 5 (real mosquitto)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.ftms import ControlOp, ControlPointRequest
from gateway.hub import Hub
from gateway.service import RunOptions
from gateway.store.db import SessionStore, Stream
from tests.support.gateway import running_gateway, settings_for
from tests.support.mosquitto import PASSWORD, USER, running_mosquitto
from tests.support.observer import Observer, gaps, observing

pytestmark = pytest.mark.mosquitto

TELEMETRY = "retrogate/sim/telemetry"
HEART_RATE = "retrogate/sim/heart_rate"
RESULTS = "retrogate/sim/cmd/result"
MOVING = {ControlOp.SET_TARGET_SPEED, ControlOp.START_OR_RESUME, ControlOp.SET_TARGET_INCLINATION}


def hostile_payloads(count: int, rng: random.Random) -> list[tuple[bytes, bool, str | None]]:
    """(payload, retained, the id its answer must carry) — none is a valid command."""
    now = time.time()
    out: list[tuple[bytes, bool, str | None]] = []
    for i in range(count):
        cid = f"h{i}"
        kind = i % 17
        retained = False
        answer_id: str | None = cid
        body: object
        if kind == 0:  # random bytes
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
            out.append((b"\xff" + raw, False, None))
            continue
        if kind == 1:  # JSON, not an object
            body, answer_id = rng.choice([[1, 2], 42, "start", None, [{"id": cid}]]), None
        elif kind == 2:
            body = {"id": cid, "cmd": rng.choice(["fly", "rm -rf", "", "START", "set_speed "])}
        elif kind == 3:  # wrong types
            body = {"id": cid, "cmd": "set_speed", "value": rng.choice([[3], {"v": 3}, True])}
        elif kind == 4:
            body = {"id": cid, "cmd": "set_speed", "value": rng.choice([1e308, 10**30, 99.0])}
        elif kind == 5:  # NaN / Infinity literals
            text = json.dumps({"id": cid, "cmd": "set_speed", "value": 0}).replace(
                '"value": 0', '"value": ' + rng.choice(["NaN", "Infinity", "-Infinity", "1e400"])
            )
            out.append((text.encode(), False, cid))
            continue
        elif kind == 6:  # negative values
            body = rng.choice(
                [
                    {"id": cid, "cmd": "set_speed", "value": -rng.uniform(0.1, 50)},
                    {"id": cid, "cmd": "set_incline", "value": -rng.uniform(11, 500)},
                    {"id": cid, "cmd": "set_cap", "value": -1.0},
                    {"id": cid, "cmd": "start", "ttl_ms": -5},
                ]
            )
        elif kind == 7:  # a valid command, published retained
            body, retained = {"id": cid, "cmd": "set_speed", "value": 3.0}, True
        elif kind == 8:  # a valid command, long expired
            body = {"id": cid, "cmd": "start", "ts": now - rng.uniform(30, 3600), "ttl_ms": 1000}
        elif kind == 9:  # extra fields, missing fields
            body = rng.choice(
                [{"id": cid, "cmd": "start", "sudo": True}, {"id": cid}, {"id": cid, "value": 1}]
            )
        elif kind == 10:  # oversize
            raw = json.dumps({"id": cid, "cmd": "start", "pad": "x" * 5000}).encode()
            out.append((raw, False, None))
            continue
        elif kind == 11:  # a bad id
            body, answer_id = {"id": rng.choice([7, "", "x" * 65, None]), "cmd": "start"}, None
        elif kind == 12:  # values the governor refuses
            body = rng.choice(
                [
                    {"id": cid, "cmd": "set_direction", "value": "sideways"},
                    {"id": cid, "cmd": "set_cap", "value": 15.0},
                    {"id": cid, "cmd": "load_plan", "value": "no-such-plan"},
                    {"id": cid, "cmd": "next_segment"},
                ]
            )
        elif kind == 13:  # deeply nested
            body = {"id": cid, "cmd": "start", "value": json.loads("[" * 50 + "]" * 50)}
        elif kind == 14:  # workout commands get the same checks (issue 12): stale, or a path
            body = rng.choice(
                [
                    {
                        "id": cid,
                        "cmd": rng.choice(["load_plan", "next_segment"]),
                        "value": "intro-backward-walk",
                        "ts": now - 3600,
                        "ttl_ms": 1000,
                    },
                    {"id": cid, "cmd": "load_plan", "value": "/dev/zero"},
                    {"id": cid, "cmd": "load_plan", "value": "plan\u0000.toml"},
                    {"id": cid, "cmd": "load_plan", "value": "../../etc/passwd"},
                ]
            )
        elif kind == 15:  # stamped in the future (beyond the allowed skew)
            body = {"id": cid, "cmd": "start", "ts": now + rng.uniform(5, 10**6)}
        else:  # a key twice: which one wins is the parser's choice, so neither does
            raw = b'{"id": "%s", "cmd": "confirm", "cmd": "start"}' % cid.encode()
            out.append((raw, False, None))
            continue
        out.append((json.dumps(body).encode(), retained, answer_id))
    return out


@pytest.mark.timeout(240)
async def test_ten_thousand_hostile_commands_each_get_an_error_and_none_moves_the_belt(
    tmp_path: Path,
) -> None:
    writes: list[ControlPointRequest] = []
    payloads = hostile_payloads(10_000, random.Random(2026))
    # Every 25th message: a valid command whose MQTT 5 reply points outside the reply
    # namespace (a wildcard, the gateway's own topics): refused, never carried out.
    bad_replies = ["x/#", "retrogate/sim/telemetry", "retrogate/sim/cmd", "$SYS/x", "a/+/b"]
    for i in range(0, len(payloads), 25):
        body = json.dumps({"id": f"reply{i}", "cmd": "set_speed", "value": 3.0}).encode()
        payloads[i] = (body, False, f"reply{i}")

    def properties(i: int) -> Properties | None:
        if i % 25:
            return None
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = bad_replies[(i // 25) % len(bad_replies)]
        return props

    async with running_mosquitto(tmp_path / "broker") as broker:
        watcher = Observer(broker.port, topics=(RESULTS,))
        async with observing(watcher):
            settings = settings_for(broker.port, tmp_path / "data")
            options = RunOptions(sim=True, on_write=lambda _, r: writes.append(r))
            async with running_gateway(settings, options) as service:
                async with aiomqtt.Client(
                    "127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5
                ) as client:
                    for start in range(0, len(payloads), 500):
                        await asyncio.gather(
                            *(
                                client.publish(
                                    "retrogate/sim/cmd",
                                    raw,
                                    qos=1,
                                    retain=retained,
                                    properties=properties(start + k),
                                )
                                for k, (raw, retained, _) in enumerate(
                                    payloads[start : start + 500]
                                )
                            )
                        )
                await watcher.wait_for(lambda: len(watcher.messages) >= len(payloads), within=180)
                snapshot = service.stations[0].hub.snapshot
    answers = [json.loads(p) for _, p, _ in watcher.messages]
    assert len(answers) == len(payloads)
    assert [a for a in answers if a["ok"] is not False] == []
    assert all(a["error"] for a in answers)
    assert sorted(str(a["id"]) for a in answers) == sorted(str(i) for _, _, i in payloads)
    assert [w for w in writes if w.op in MOVING] == []
    assert not snapshot.running
    assert not snapshot.speed_kmh


async def test_without_credentials_a_client_can_neither_connect_nor_command(
    tmp_path: Path,
) -> None:
    async with running_mosquitto(tmp_path / "broker", auth=True, tls=True) as broker:
        assert broker.ca is not None
        tls = aiomqtt.TLSParameters(ca_certs=str(broker.ca))
        with pytest.raises(aiomqtt.MqttCodeError, match=r"[Nn]ot authori[sz]ed"):
            async with aiomqtt.Client("127.0.0.1", broker.port, tls_params=tls) as anonymous:
                await anonymous.publish("retrogate/sim/cmd", b'{"id": "x", "cmd": "start"}')
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", broker.port, timeout=3):  # no TLS
                pass
        watcher = Observer(broker.port, username=USER, password=PASSWORD, tls=tls)
        async with observing(watcher):
            settings = settings_for(
                broker.port,
                tmp_path / "data",
                username=USER,
                password=PASSWORD,
                ca_file=broker.ca,
            )
            async with running_gateway(settings, RunOptions(sim=True)) as service:
                await watcher.wait_for(lambda: len(watcher.seqs[TELEMETRY]) >= 5)
                assert service.bridge is not None
                assert service.bridge.counters["commands"] == 0


async def test_a_broker_killed_mid_session_loses_no_sample(tmp_path: Path) -> None:
    async with running_mosquitto(tmp_path / "broker") as broker:
        watcher = Observer(broker.port, topics=(TELEMETRY, HEART_RATE))
        async with observing(watcher):
            settings = settings_for(broker.port, tmp_path / "data")
            async with running_gateway(settings, RunOptions(sim=True)) as service:
                assert service.recorder is not None
                assert service.bridge is not None
                record = service.recorder.records["sim"]
                hub = service.stations[0].hub
                await watcher.wait_for(lambda: len(watcher.seqs[TELEMETRY]) >= 10)
                await _until(hub, lambda: broker.persisted)  # the observer's session is on disk
                broker.kill()
                killed_at = record.stored["telemetry"]
                # The treadmill keeps running while the broker is away: a simulated
                # minute (240 records at 4 Hz).
                await _until(hub, lambda: record.stored["telemetry"] >= killed_at + 240)
                assert not service.bridge.connected.is_set()
                await broker.start()
                await service.bridge.connected.wait()
                await watcher.wait_for(
                    lambda: max(watcher.seqs[TELEMETRY]) >= killed_at + 260, within=60
                )
            final = {s: record.stored[s] for s in ("telemetry", "heart_rate")}
            await watcher.wait_for(
                lambda: (
                    max(watcher.seqs[TELEMETRY]) >= final["telemetry"]
                    and max(watcher.seqs[HEART_RATE], default=0) >= final["heart_rate"]
                )
            )
    assert service.bridge.counters["reconnects"] >= 1
    assert gaps(watcher.seqs[TELEMETRY]) == []
    assert gaps(watcher.seqs[HEART_RATE]) == []
    assert watcher.connects >= 2


def _gateway(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RETROGATE_GATEWAY_ID": "gw",
        "RETROGATE_DATA_DIR": str(data_dir),
        "RETROGATE_MQTT__BROKER": "127.0.0.1",
        "RETROGATE_MQTT__PORT": str(port),
    }
    command = [sys.executable, "-m", "gateway.cli", "run", "--sim", "--speedup", "20"]
    return subprocess.Popen([*command, "--no-status"], env=env, stderr=subprocess.PIPE)


async def test_a_gateway_killed_mid_session_continues_the_same_record(tmp_path: Path) -> None:
    async with running_mosquitto(tmp_path / "broker") as broker:
        watcher = Observer(broker.port, topics=(TELEMETRY, "retrogate/gateways/gw/status"))
        async with observing(watcher):
            first = _gateway(broker.port, tmp_path / "data")
            try:
                await watcher.wait_for(lambda: len(watcher.seqs[TELEMETRY]) >= 30)
                first.kill()  # SIGKILL: no goodbye, no flush
                first.wait()
                await watcher.wait_for(
                    lambda: watcher.last.get("retrogate/gateways/gw/status") == b"offline"
                )  # the Last Will
                before = max(watcher.seqs[TELEMETRY])
                second = _gateway(broker.port, tmp_path / "data")
                try:
                    await watcher.wait_for(lambda: max(watcher.seqs[TELEMETRY]) >= before + 30)
                finally:
                    second.send_signal(signal.SIGINT)
                    assert second.wait(30) == 0
            finally:
                first.kill()
                for process in (first, second):
                    if process.stderr:
                        process.stderr.close()
            store = SessionStore.in_dir(tmp_path / "data")
            sessions = store.sessions()
            last = store.last_seq(sessions[0].id, "telemetry")
            store.close()
            await watcher.wait_for(lambda: max(watcher.seqs[TELEMETRY]) >= last)
    assert len(sessions) == 1
    assert sessions[0].ended is not None
    assert gaps(watcher.seqs[TELEMETRY]) == []
    assert last == max(watcher.seqs[TELEMETRY])


async def _until(hub: Hub, condition: Callable[[], bool]) -> None:
    """Until ``condition()`` holds, checked after each of the station's hub messages
    (the simulated treadmill keeps them coming whatever the broker does)."""
    changed = asyncio.Event()
    unsubscribe = hub.subscribe(lambda _: changed.set())
    try:
        async with asyncio.timeout(30):
            while not condition():
                changed.clear()
                await changed.wait()
    finally:
        unsubscribe()


def test_hostile_payloads_are_really_invalid() -> None:
    """The generator itself: nothing in it is a command the governor would accept."""
    from gateway.mqtt.commands import parse_command
    from gateway.safety.events import Command

    for raw, retained, answer_id in hostile_payloads(2_000, random.Random(1)):
        parsed = parse_command(raw, retained=retained, wall_now=time.time(), session_now=1e4)
        if isinstance(parsed, Command):
            # Only governor-refused values may parse: check the reason is structural.
            assert parsed.kind.value in {
                "set_speed",
                "set_incline",
                "set_cap",
                "set_direction",
                "load_plan",
                "next_segment",
                "start",
            }, raw
            assert parsed.id == answer_id
            value = parsed.value if isinstance(parsed.value, float) else None
            if parsed.kind.value == "start":
                assert parsed.issued_at is not None
            elif parsed.kind.value == "set_cap":
                assert value is not None
                assert not 0 < value <= 6.0
            elif parsed.kind.value == "set_incline":
                assert value is not None
                assert value < -10
            elif isinstance(parsed.value, float):
                assert parsed.value < 0 or parsed.value > 20 or not math.isfinite(parsed.value)
        else:
            assert parsed.ok is False


async def test_a_second_broker_crash_during_the_backlog_flush_loses_nothing(
    tmp_path: Path,
) -> None:
    """Defect: autosave every 10 s, broker down, back, killed again 1 s into the flush:
    256-337 seq missing per stream for an offline persistent subscriber (PUBACK is not disk).
    """
    async with running_mosquitto(tmp_path / "broker", autosave_s=10) as broker:
        offline = Observer(broker.port, identifier="offline", topics=(TELEMETRY, HEART_RATE))
        async with observing(offline):
            pass  # subscribed with a persistent session, then gone
        settings = settings_for(broker.port, tmp_path / "data", broker_autosave_s=10)
        async with running_gateway(settings, RunOptions(sim=True)) as service:
            assert service.recorder is not None
            assert service.bridge is not None
            bridge, record = service.bridge, service.recorder.records["sim"]
            hub = service.stations[0].hub
            key: tuple[int, Stream] = (record.session, "telemetry")
            await _until(hub, lambda: bridge.publisher.acked.get(key, 0) >= 20)
            await _until(hub, lambda: broker.persisted)
            broker.kill()
            down_at = record.stored["telemetry"]
            await _until(hub, lambda: record.stored["telemetry"] >= down_at + 400)
            await broker.start()
            await bridge.connected.wait()
            # Killed again while the backlog goes out: acknowledged, not yet on disk.
            await _until(hub, lambda: bridge.publisher.acked.get(key, 0) >= down_at + 100)
            broker.kill()
            await broker.start()
            await bridge.connected.wait()
            caught_up = record.stored["telemetry"]
            await _until(hub, lambda: bridge.publisher.acked.get(key, 0) >= caught_up)
            final = {s: record.stored[s] for s in ("telemetry", "heart_rate")}
            back = Observer(broker.port, identifier="offline", topics=(TELEMETRY, HEART_RATE))
            async with observing(back):
                await back.wait_for(
                    lambda: (
                        max(back.seqs[TELEMETRY], default=0) >= final["telemetry"]
                        and max(back.seqs[HEART_RATE], default=0) >= final["heart_rate"]
                    ),
                    within=60,
                )
    for topic in (TELEMETRY, HEART_RATE):
        assert min(back.seqs[topic]) == 1  # queued for it from the start of the session
        assert gaps(back.seqs[topic]) == []
