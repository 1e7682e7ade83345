"""Nothing lost when a broker or the gateway is killed mid-session (real mosquitto, SIGKILL)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.hub import Hub
from gateway.service import RunOptions
from gateway.store.db import SessionStore, Stream
from tests.support.gateway import run_env, running_gateway, settings_for
from tests.support.mosquitto import running_mosquitto
from tests.support.observer import Observer, gaps, observing

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

TELEMETRY = "retrogate/sim/telemetry"
HEART_RATE = "retrogate/sim/heart_rate"


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
    env = run_env(port, data_dir)
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
