"""Every way the gateway process is told to stop winds the belt down (SAFETY.md 11).

``retrogate run`` in its own process, as systemd or a terminal runs it; the
simulated treadmill a real GATT peripheral on BlueZoo, hosted in this test
process so the test reads its belt and its log of control-point writes:
the ground truth, not what the gateway says about itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from gateway.clock import LoopClock
from gateway.ftms import ControlOp, StopPause
from simulators.bluez.peripheral import BluezPeripheral
from simulators.station import SimulatedStation, StationSpec
from tests.support.bluezoo import (
    CLIENT_ADAPTER,
    SIM_ADDRESS,
    BlueZoo,
    peripheral_running,
    start_bluezoo,
)

pytestmark = [pytest.mark.bluez, pytest.mark.slow]
SPEEDUP = 10.0
PLAN = """
name = "straight backward"
[[segments]]
direction = "forward"
speed_kmh = 3.0
duration_s = 20
[[segments]]
direction = "backward"
speed_kmh = 6.0
distance_m = 3000
"""


@contextlib.asynccontextmanager
async def peripheral() -> AsyncIterator[BluezPeripheral]:
    station = SimulatedStation(spec=StationSpec(with_hr=False, treadmill_rate_hz=0.5))
    async with peripheral_running(station, LoopClock(SPEEDUP)) as sim:
        yield sim


def write_config(tmp_path: Path, mqtt: str = 'broker = "none"') -> tuple[Path, Path]:
    config, plan = tmp_path / "config.toml", tmp_path / "plan.toml"
    config.write_text(
        f'gateway_id = "e2e"\nadapter = "{CLIENT_ADAPTER}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[mqtt]\n{mqtt}\n[[stations]]\nid = "e2e"\ntreadmill = "{SIM_ADDRESS}"\n',
        encoding="utf-8",
    )
    plan.write_text(PLAN, encoding="utf-8")
    return config, plan


async def until(
    sim: BluezPeripheral, condition: Callable[[], bool], what: str, seconds: float = 60
) -> None:
    """Wait until the simulator's state meets ``condition`` (checked whenever it moves)."""
    try:
        async with asyncio.timeout(seconds):
            while not condition():
                sim.moved.clear()
                await sim.moved.wait()
    except TimeoutError:
        raise AssertionError(f"not {what} within {seconds:g} s") from None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
async def test_a_signal_while_backward_slows_and_pauses_the_belt(
    sig: signal.Signals, bluezoo: BlueZoo, tmp_path: Path
) -> None:
    config, plan = write_config(tmp_path)
    async with peripheral() as sim:
        station = sim.station
        gateway = await start_gateway(config, plan, bluezoo.bus_address)
        try:
            await until(
                sim,
                lambda: (
                    any(
                        w.request.op is ControlOp.SET_TARGET_SPEED
                        and w.request.target_speed_kmh == 6.0
                        for w in station.writes
                    )
                    and station.treadmill.belt_kmh >= 5.9
                ),
                "backward at the 6 km/h cap",
            )
            signalled = len(station.writes)
            gateway.send_signal(sig)
            _, err = await asyncio.wait_for(gateway.communicate(), 30)
        finally:
            if gateway.returncode is None:
                gateway.kill()
                await gateway.wait()
        after = [w.request for w in station.writes[signalled:]]
        await until(sim, lambda: station.treadmill.belt_kmh == 0.0, "the belt at a standstill")
    assert gateway.returncode == 0, err.decode()[-2000:]
    assert [r.op for r in after] == [ControlOp.SET_TARGET_SPEED, ControlOp.STOP_OR_PAUSE]
    assert after[0].target_speed_kmh == 2.0
    assert after[1].stop_pause is StopPause.PAUSE
    assert station.treadmill.state.value == "paused"
    assert sig.name in err.decode()  # the log says why it stopped


async def start_gateway(
    config: Path, plan: Path, bus: str, speedup: float = SPEEDUP
) -> asyncio.subprocess.Process:
    """``retrogate run`` as systemd would start it (its stderr piped for the log)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "run",
        "--config",
        str(config),
        "--plan",
        str(plan),
        "--speedup",
        str(speedup),
        "--no-status",
        env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.fixture
def two_bluezoos(tmp_path: Path) -> Iterator[tuple[BlueZoo, BlueZoo]]:
    """Two independent BlueZoos (BlueZoo 1.0.2 takes one connection per peripheral)."""
    with (
        start_bluezoo(tmp_path / "bluezoo-1.log") as first,
        start_bluezoo(tmp_path / "bluezoo-2.log") as second,
    ):
        yield first, second


async def test_a_gateway_killed_mid_stretch_slows_the_belt_when_it_comes_back(
    two_bluezoos: tuple[BlueZoo, BlueZoo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL: nothing of the dead process slows the belt; the restarted one must.

    The treadmill (its belt, its write log) lives on across both gateways; its
    radio side is hosted again on a fresh BlueZoo for the second connection,
    as a peripheral re-advertises after its central vanished.
    """
    config, plan = write_config(tmp_path)
    station = SimulatedStation(spec=StationSpec(with_hr=False, treadmill_rate_hz=0.5))
    clock = LoopClock(SPEEDUP)
    first_zoo, second_zoo = two_bluezoos
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", first_zoo.bus_address)
    async with peripheral_running(station, clock) as sim:
        first = await start_gateway(config, plan, first_zoo.bus_address)
        try:
            await until(
                sim,
                lambda: (
                    any(w.request.target_speed_kmh == 6.0 for w in station.writes)
                    and station.treadmill.belt_kmh >= 5.9
                ),
                "backward at the 6 km/h cap",
            )
        finally:
            first.kill()
            await first.wait()
    killed = len(station.writes)
    assert station.treadmill.belt_kmh >= 5.9  # nothing slowed it
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", second_zoo.bus_address)
    async with peripheral_running(station, clock) as sim:
        second = await start_gateway(config, plan, second_zoo.bus_address)
        try:
            await until(sim, lambda: station.treadmill.belt_kmh <= 2.2, "slowed", seconds=60)
        finally:
            second.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(second.communicate(), 30)
    after = [w.request for w in station.writes[killed:]]
    assert after[0].op is ControlOp.REQUEST_CONTROL, err.decode()[-2000:]
    assert after[1].op is ControlOp.SET_TARGET_SPEED
    assert after[1].target_speed_kmh == 2.0
    assert ControlOp.START_OR_RESUME not in [r.op for r in after]
    assert b"slowing to 2 km/h before going on" in err
    assert b"continuing session" in err
    assert b"resuming the plan at segment 2" in err  # the backward stretch, not the warm-up


async def test_pair_finds_a_treadmill_bluez_already_knows(bluezoo: BlueZoo, tmp_path: Path) -> None:
    """Defect: `pair` saw only what advertised during its scan; `run` knew BlueZ's tree."""
    async with peripheral():
        scan = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "scan", "--adapter", CLIENT_ADAPTER,
            "--timeout", "3",
            env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bluezoo.bus_address},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        seen, _ = await scan.communicate()
        assert SIM_ADDRESS.encode() in seen, seen.decode()
    # The peripheral no longer advertises; BlueZ keeps its object for it.
    config = tmp_path / "config.toml"
    pair = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "pair", "--adapter", CLIENT_ADAPTER,
        "--config", str(config), "--treadmill", SIM_ADDRESS, "--hrm", "none",
        "--timeout", "1", "--no-check", "--station", "known",
        env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bluezoo.bus_address},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await pair.communicate()
    assert pair.returncode == 0, out.decode()
    assert f'treadmill = "{SIM_ADDRESS}"' in config.read_text()
