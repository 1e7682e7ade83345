"""A site of several gateways (issue 28): each embedded mosquitto bridged to a central one.

Real brokers throughout: a central mosquitto, and each gateway's own private
mosquitto made a bridge by ``[mqtt.bridge]``. The gateways run in process
with simulated stations; the observer is a client of the central broker only,
as the office's dashboard or the archive would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from gateway.clock import LoopClock
from gateway.config import CentralBridge, MqttConfig, Settings, StationConfig
from gateway.ftms import ControlOp, ControlPointRequest
from gateway.mqtt.bridge import StationClash
from gateway.service import RunOptions, Service
from tests.support.gateway import running_gateway
from tests.support.mosquitto import Mosquitto, free_port, running_mosquitto
from tests.support.observer import Observer, gaps, observing

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


@pytest.fixture
async def central(tmp_path: Path) -> AsyncIterator[Mosquitto]:
    async with running_mosquitto(tmp_path / "central") as broker:
        yield broker


def gateway_settings(name: str, stations: list[str], central: Mosquitto, data: Path) -> Settings:
    return Settings(
        gateway_id=name,
        data_dir=data / name,
        stations=[StationConfig(id=s, treadmill="sim") for s in stations],
        mqtt=MqttConfig(
            broker="embedded",
            embedded="mosquitto",
            port=free_port(),
            discovery=False,
            bridge=CentralBridge(address="127.0.0.1", port=central.port),
        ),
    )


async def test_two_gateways_one_central_view_commands_go_to_their_own_station(
    tmp_path: Path, central: Mosquitto
) -> None:
    writes: dict[str, list[ControlPointRequest]] = {"a": [], "b": []}
    watcher = Observer(central.port)
    async with observing(watcher):
        async with (
            running_gateway(
                gateway_settings("gw-a", ["lane-1", "lane-2"], central, tmp_path),
                RunOptions(sim=True, on_write=lambda _, r: writes["a"].append(r)),
            ),
            running_gateway(
                gateway_settings("gw-b", ["lane-3"], central, tmp_path),
                RunOptions(sim=True, on_write=lambda _, r: writes["b"].append(r)),
            ),
        ):
            stations = ("lane-1", "lane-2", "lane-3")
            await watcher.wait_for(
                lambda: all(len(watcher.seqs[f"retrogate/{s}/telemetry"]) >= 5 for s in stations)
            )
            owners = {s: watcher.last.get(f"retrogate/{s}/owner") for s in stations}
            assert owners == {"lane-1": b"gw-a", "lane-2": b"gw-a", "lane-3": b"gw-b"}
            assert watcher.last["retrogate/gateways/gw-a/bridge"] == b"1"
            before = {k: len(v) for k, v in writes.items()}
            command = {"id": "c1", "cmd": "start"}
            office_client = Observer(central.port, identifier="office").client()
            async with office_client as office:  # its own id: not the watcher's session
                await office.publish("retrogate/lane-3/cmd", json.dumps(command), qos=1)
            await watcher.wait_for(lambda: "retrogate/lane-3/cmd/result" in watcher.last)
            answer = watcher.json("retrogate/lane-3/cmd/result")
            assert answer["id"] == "c1"
            assert answer["ok"] is True
            # the belt of lane-3 (gateway b) was started; gateway a's belts were not
            await watcher.wait_for(lambda: watcher.json("retrogate/lane-3/state")["running"])
            started_b = [r for r in writes["b"][before["b"] :] if r.op is ControlOp.START_OR_RESUME]
            started_a = [r for r in writes["a"][before["a"] :] if r.op is ControlOp.START_OR_RESUME]
            assert started_b
            assert started_a == []
        results = [t for t, _, _ in watcher.messages if t.endswith("/cmd/result")]
        assert results == ["retrogate/lane-3/cmd/result"]  # answered once, by its gateway
    for station in ("lane-1", "lane-2", "lane-3"):
        seqs = watcher.seqs[f"retrogate/{station}/telemetry"]
        assert gaps(seqs) == [], f"{station} {sorted(seqs)}"


async def test_a_station_id_another_gateway_serves_is_refused_at_start(
    tmp_path: Path, central: Mosquitto
) -> None:
    async with running_gateway(
        gateway_settings("gw-a", ["lane-1"], central, tmp_path), RunOptions(sim=True)
    ):
        clash = Service(
            gateway_settings("gw-c", ["lane-1"], central, tmp_path),
            RunOptions(sim=True, status_line=False),
            LoopClock(20.0),
        )
        said = r"'lane-1' is already served by gateway 'gw-a' on the central broker 127\.0\.0\.1"
        with pytest.raises(StationClash, match=said):
            await clash.run()


async def test_a_central_broker_outage_loses_nothing_the_bridge_held(
    tmp_path: Path, central: Mosquitto
) -> None:
    """SIGKILL the central broker for a few seconds: the bridge queues in the gateway's
    own mosquitto and sends it all once the central broker is back."""
    watcher = Observer(central.port, identifier="office")
    async with (
        observing(watcher),
        running_gateway(
            gateway_settings("gw-a", ["lane-1"], central, tmp_path), RunOptions(sim=True)
        ),
    ):
        topic = "retrogate/lane-1/telemetry"
        await watcher.wait_for(lambda: len(watcher.seqs[topic]) >= 10)
        assert gaps(watcher.seqs[topic]) == [], sorted(watcher.seqs[topic])
        central.kill()
        seen = max(watcher.seqs[topic])
        down = time.monotonic()
        await asyncio.sleep(3.0)  # the outage itself: what it lasts is the point of the test
        await central.start()
        await watcher.wait_for(lambda: max(watcher.seqs[topic]) > seen + 3 * 4, within=60)
        assert time.monotonic() - down >= 3.0
    assert gaps(watcher.seqs[topic]) == []


async def test_the_offices_dashboard_groups_every_station_by_gateway_and_shows_one_gone(
    tmp_path: Path, central: Mosquitto
) -> None:
    from textual.widgets import DataTable

    from dashboard.app import Dashboard
    from gateway.mqtt.consumer import BrokerAddress
    from tests.integration.test_dashboard import until

    def rows(app: Dashboard) -> list[str]:
        table = app.screen.query_one(DataTable)
        return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]

    async with contextlib.AsyncExitStack() as gateways:
        await gateways.enter_async_context(running_gateway(
            gateway_settings("gw-a", ["lane-1", "lane-2"], central, tmp_path), RunOptions(sim=True)
        ))  # fmt: skip
        b = contextlib.AsyncExitStack()
        await b.enter_async_context(running_gateway(
            gateway_settings("gw-b", ["lane-3"], central, tmp_path), RunOptions(sim=True)
        ))  # fmt: skip
        app = Dashboard(BrokerAddress("127.0.0.1", central.port))
        async with app.run_test(size=(120, 34)) as pilot:
            expected = ["gw-a · lane-1", "gw-a · lane-2", "gw-b · lane-3"]
            await until(pilot, "three stations of two gateways", lambda: rows(app) == expected)
            await b.aclose()  # gw-b stops: its station stays listed, its gateway is away
            await until(pilot, "gw-b offline", lambda: rows(app)[2] == "gw-b · lane-3  OFFLINE")
            assert rows(app)[:2] == expected[:2]


async def test_the_bridge_logs_in_over_tls_with_the_gateways_own_user(tmp_path: Path) -> None:
    """A central broker as docs/gym.md sets it up: TLS and a password per gateway."""
    import aiomqtt

    from tests.support.mosquitto import PASSWORD, USER

    async with running_mosquitto(tmp_path / "central", auth=True, tls=True) as secure:
        assert secure.ca is not None
        settings = gateway_settings("gw-a", ["lane-1"], secure, tmp_path)
        settings.mqtt.bridge = CentralBridge(
            address="127.0.0.1",
            port=secure.port,
            username=USER,
            password=SecretStr(PASSWORD),
            ca_file=secure.ca,
        )
        tls = aiomqtt.TLSParameters(ca_certs=str(secure.ca))
        watcher = Observer(secure.port, username=USER, password=PASSWORD, tls=tls)
        async with observing(watcher), running_gateway(settings, RunOptions(sim=True)):
            await watcher.wait_for(lambda: len(watcher.seqs["retrogate/lane-1/telemetry"]) >= 5)
        conf = (settings.data_dir / "broker" / "mosquitto.conf").stat()
        assert conf.st_mode & 0o077 == 0  # it holds the central broker's password
