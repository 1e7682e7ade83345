"""Authentication and TLS on a real mosquitto: no credentials or no TLS, no connection."""

from __future__ import annotations

from pathlib import Path

import aiomqtt
import pytest

from gateway.service import RunOptions
from tests.support.gateway import running_gateway, settings_for
from tests.support.mosquitto import PASSWORD, USER, running_mosquitto
from tests.support.observer import Observer, observing

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

TELEMETRY = "retrogate/sim/telemetry"


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
