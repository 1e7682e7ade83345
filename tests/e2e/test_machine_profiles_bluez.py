"""Every FTMS treadmill a runner owns, through real bleak on BlueZoo (issue 26).

Each simulator profile is a GATT peripheral in this process (its belt and its log of
control-point writes are the ground truth). The treadmill is paired by its address
with ``retrogate pair`` as a user runs it, whether or not it advertised FTMS; then the
gateway runs a session on it. In watch mode the warnings are read where a user meets
them: the MQTT state through a real mosquitto, the alert, and the spoken cue as a WAV.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.clock import LoopClock
from gateway.config import MqttConfig, Settings, VoiceConfig, load_config
from gateway.cues.voice import wav_seconds
from gateway.ftms import ControlOp
from gateway.hub import HubMessage, TelemetrySample
from gateway.mqtt.consumer import BrokerAddress, Consumer
from gateway.service import RunOptions, Service, build_service
from gateway.workout.plan import parse_plan
from simulators.scenario import Scenario
from simulators.station import SimulatedStation, StationSpec, with_profile
from tests.support.bluezoo import (
    CLIENT_ADAPTER,
    SIM_ADDRESS,
    BlueZoo,
    peripheral_running,
)
from tests.support.mosquitto import free_port, require_mosquitto

pytestmark = [pytest.mark.bluez, pytest.mark.slow, pytest.mark.adapters(3)]

SPEEDUP = 4.0
# BlueZoo 1.0.2 cannot connect one adapter to the same peripheral twice (pair's check,
# then the gateway): pairing runs on a third adapter, the gateway on its own.
PAIRING_ADAPTER = "hci2"


def gateway_settings(config: Path) -> Settings:
    """The saved pairing, with the gateway on its own adapter (see PAIRING_ADAPTER)."""
    return load_config(config).model_copy(update={"adapter": CLIENT_ADAPTER})


PLAN = parse_plan(
    """
name = "profiles"
[[segments]]
direction = "backward"
speed_kmh = 4.0
duration_s = 600
""",
    "test",
)


async def cli(*args: str) -> str:
    """A ``retrogate`` command as a user runs it; its output (it must succeed)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    return out.decode()


async def pair_by_address(config: Path) -> str:
    """``retrogate pair --treadmill ADDRESS``, as a user would run it; its output."""
    return await cli(
        "pair", "--adapter", PAIRING_ADAPTER, "--config", str(config), "--treadmill",
        SIM_ADDRESS, "--hrm", "none", "--timeout", "2", "--station", "e2e",
    )  # fmt: skip


@contextlib.asynccontextmanager
async def gateway(config: Path, options: RunOptions) -> AsyncIterator[Service]:
    service = build_service(gateway_settings(config), options)
    task = asyncio.create_task(service.run())
    await service.ready.wait()
    try:
        yield service
    finally:
        service.stop()
        await asyncio.wait_for(task, 30)


@pytest.mark.parametrize("name", ["no-speed-range", "no-status", "no-advertised-uuid"])
async def test_a_machine_without_the_optional_parts_is_paired_by_address_and_runs(
    bluezoo: BlueZoo, tmp_path: Path, name: str
) -> None:
    station = SimulatedStation(Scenario(), with_profile(StationSpec(with_hr=False), name))
    config = tmp_path / "config.toml"
    async with peripheral_running(station, LoopClock(SPEEDUP)) as sim:
        if name == "no-advertised-uuid":  # `scan` misses it; `scan --all` lists it
            assert SIM_ADDRESS not in await cli(
                "scan", "--adapter", PAIRING_ADAPTER, "--timeout", "2"
            )
            listed = await cli("scan", "--all", "--adapter", PAIRING_ADAPTER, "--timeout", "2")
            assert f"{SIM_ADDRESS}" in listed
            assert "(no fitness service advertised)" in listed
        said = await pair_by_address(config)
        assert f"{SIM_ADDRESS}: FTMS treadmill" in said
        if name == "no-advertised-uuid":
            assert "did not advertise a treadmill: checking the device itself" in said
        records: list[float] = []
        options = RunOptions(
            plan=PLAN, status_line=False, mqtt=False, control_timeout_s=30.0, speedup=SPEEDUP
        )
        async with gateway(config, options) as service:

            def on(message: HubMessage) -> None:
                if isinstance(message, TelemetrySample) and message.record.speed_kmh:
                    records.append(message.record.speed_kmh)

            service.stations[0].hub.subscribe(on)
            async with asyncio.timeout(60):  # the plan's 4 km/h backward, on the belt
                while sim.station.treadmill.belt_kmh < 4.0:
                    sim.moved.clear()
                    await sim.moved.wait()
        assert records  # the session ran: records reached the station
        assert max(w.request.target_speed_kmh or 0 for w in sim.station.writes) <= 6.0


async def test_watch_mode_warns_on_every_output_and_writes_nothing(
    bluezoo: BlueZoo, tmp_path: Path
) -> None:
    require_mosquitto()
    # The runner starts the belt by hand once the gateway is there (pairing and start-up
    # take a few real seconds: tens of simulated ones), and runs it too fast backward.
    events = [
        {"at_s": 150, "action": "console", "button": "start"},
        {"at_s": 160, "action": "console", "button": "speed_up", "presses": 60},
    ]
    scenario = Scenario.model_validate({"events": events})
    station = SimulatedStation(
        scenario, with_profile(StationSpec(with_hr=False), "no-control-point")
    )
    config = tmp_path / "config.toml"
    voice_dir = tmp_path / "voice"
    async with peripheral_running(station, LoopClock(SPEEDUP)) as sim:
        said = await pair_by_address(config)
        assert "takes no commands: watch mode" in said
        settings = gateway_settings(config)
        port = free_port()
        settings = settings.model_copy(update={"mqtt": MqttConfig(broker="embedded", port=port)})
        states: list[dict[str, object]] = []
        alerts: list[str] = []
        options = RunOptions(
            plan=PLAN,
            status_line=False,
            control_timeout_s=30.0,
            speedup=SPEEDUP,
            voice=VoiceConfig(record_dir=voice_dir),
        )
        service = build_service(settings, options)
        task = asyncio.create_task(service.run())
        await service.ready.wait()

        def on_mqtt(topic: str, payload: bytes) -> None:
            if topic.endswith("/state"):
                states.append(json.loads(payload))
            elif topic.endswith("/alerts"):
                alerts.append(str(json.loads(payload)["code"]))

        address = service.broker_address() or BrokerAddress("127.0.0.1", port)
        consumer = asyncio.create_task(
            Consumer(address, "retrogate", on_mqtt, lambda *_: None).run()
        )
        try:
            async with asyncio.timeout(90):
                while alerts.count("too_fast") < 2 or not any(
                    s.get("control") == "none" for s in states
                ):
                    sim.moved.clear()
                    await sim.moved.wait()
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
            service.stop()
            await asyncio.wait_for(task, 30)
    assert sim.station.writes == []  # not one control-point write
    assert "watch_mode" in alerts
    assert any(s.get("control") == "none" for s in states)  # on MQTT, as HA reads it
    lines = [line.split("\t") for line in (voice_dir / "cues.txt").read_text().splitlines()]
    spoken = {kind: (text, what) for _, kind, text, _, _, _, what in lines}
    text, wav = spoken["watch_mode"]
    assert text.startswith("Watch mode.")
    assert wav.endswith(".wav")
    assert wav_seconds((voice_dir / wav).read_bytes()) > 0.5
    assert any(kind == "too_fast" and "Slow down to 6" in t for _, kind, t, *_ in lines)


async def test_a_machine_that_refuses_control_is_watched_and_only_asked(
    bluezoo: BlueZoo, tmp_path: Path
) -> None:
    """Control always refused: the session runs in watch mode; the only writes are the
    requests for control, asked again with backoff."""
    station = SimulatedStation(
        Scenario(), with_profile(StationSpec(with_hr=False), "control-refused")
    )
    config = tmp_path / "config.toml"
    async with peripheral_running(station, LoopClock(SPEEDUP)) as sim:
        await pair_by_address(config)
        records: list[float] = []
        options = RunOptions(
            plan=PLAN, status_line=False, mqtt=False, control_timeout_s=30.0, speedup=SPEEDUP
        )
        async with gateway(config, options) as service:
            hub = service.stations[0].hub

            def on(message: HubMessage) -> None:
                if isinstance(message, TelemetrySample):
                    records.append(message.at)

            hub.subscribe(on)
            async with asyncio.timeout(60):
                while len(records) < 20 or len(sim.station.writes) < 3:
                    sim.moved.clear()
                    await sim.moved.wait()
            assert hub.snapshot.control == "lost"
    assert {w.request.op for w in sim.station.writes} == {ControlOp.REQUEST_CONTROL}
