"""Hostile clients we did not write (real mosquitto).

10 000 bad commands: every one answered, none moving the belt.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.ftms import ControlOp, ControlPointRequest
from gateway.service import RunOptions
from tests.support.gateway import running_gateway, settings_for
from tests.support.mosquitto import running_mosquitto
from tests.support.observer import Observer, observing

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

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
