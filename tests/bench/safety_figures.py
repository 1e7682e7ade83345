"""Safety figures for issue 11, printed (not asserted), in simulated seconds.

    uv run python -m tests.bench.safety_figures crash     [--runs 10] [--restart-s 2]
    uv run python -m tests.bench.safety_figures silence   [--runs 10] [--rate 1]
    uv run python -m tests.bench.safety_figures process   [--runs 5] [--restart-s 0.5]
                                                          [--broker embedded|none]

``crash``: a gateway runs a plan until the belt is backward at the 6 km/h
cap, then dies at a random moment with no wind-down (what SIGKILL leaves);
after systemd's RestartSec a new gateway starts on the same, still running,
simulated treadmill and resumes the session's segment. Figure: from the
death to the belt at or below the turnaround speed (+ tolerance), read off
the simulator's belt.

``silence``: the treadmill stops notifying at a random moment during a
backward stretch. Figures: from the last record to the "data_lost" alert,
and from the alert to the Pause write arriving at the simulator.

Both run the real runtime against the in-process simulator on a clock
``--speedup`` times faster than real time.

``process``: the crash for real, in wall-clock seconds: ``retrogate run``
processes over BlueZoo (needs dbus-daemon), SIGKILL during the backward
stretch, RestartSec, a new process (its imports, BlueZ connect, service
discovery included; the embedded mosquitto too, by default), until the
simulated belt is at 2.2 km/h or below. Printed by stage: the restart delay,
start-up to the Request Control write at the treadmill, from there to the
turnaround speed's write, and the belt's own deceleration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gateway.clock import LoopClock
from gateway.ftms import ControlOp
from gateway.hub import AlertMessage, HubMessage
from gateway.safety import SafetyLimits
from gateway.safety.direction import Direction
from gateway.station.runtime import StationRuntime
from simulators.inprocess import InProcessLink, SimRunner, running
from simulators.scenario import Scenario
from simulators.station import SimulatedStation, StationSpec
from tests.integration.test_station_runtime import LONG_BACKWARD

LIMITS = SafetyLimits(hr_expected=False)


@contextlib.asynccontextmanager
async def gateway(runner: SimRunner, clock: LoopClock, resume: int | None = None):  # type: ignore[no-untyped-def]
    link = InProcessLink(runner)
    runtime = StationRuntime("bench", LIMITS, clock, link, link, plan=LONG_BACKWARD)
    runtime.resume_segment = resume
    task = asyncio.create_task(runtime.run())
    try:
        yield runtime
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await link.disconnect()  # the radio link drops with the process


async def until(clock: LoopClock, condition, step_s: float = 0.02) -> float:  # type: ignore[no-untyped-def]
    while not condition():
        await clock.sleep(step_s)
    return clock.now()


async def one_crash(speedup: float, restart_s: float, rng: random.Random) -> float:
    clock = LoopClock(speedup)
    station = SimulatedStation(spec=StationSpec())
    async with running(station, clock) as runner:
        async with gateway(runner, clock) as first:
            await until(clock, lambda: first.view().direction is Direction.BACKWARD)
            await until(clock, lambda: station.treadmill.belt_kmh >= 5.99)
            await clock.sleep(rng.uniform(0.0, 10.0))
        died = clock.now()
        await clock.sleep(restart_s)
        async with gateway(runner, clock, resume=1):
            safe = await until(clock, lambda: station.treadmill.belt_kmh <= 2.2)
    return safe - died


async def one_silence(speedup: float, rate: float, rng: random.Random) -> tuple[float, float]:
    clock = LoopClock(speedup)
    at = 50.0 + rng.uniform(0.0, 5.0)
    scenario = Scenario.model_validate(
        {"events": [{"at_s": at, "action": "silent", "duration_s": 30}]}
    )
    station = SimulatedStation(scenario, StationSpec(treadmill_rate_hz=rate))
    alerted: list[float] = []
    last_record: list[float] = []

    def on(message: HubMessage) -> None:
        if isinstance(message, AlertMessage) and message.alert.code == "data_lost":
            alerted.append(message.at)

    async with running(station, clock) as runner, gateway(runner, clock) as runtime:
        runtime.hub.subscribe(on)
        await until(clock, lambda: bool(alerted))
        last_record.append(runtime.hub.snapshot.last_sample_at or 0.0)
        paused = await until(
            clock,
            lambda: any(
                w.request.op is ControlOp.STOP_OR_PAUSE and w.at >= alerted[0]
                for w in station.writes
            ),
        )
    return alerted[0] - last_record[0], paused - alerted[0]


@dataclass(frozen=True)
class CrashTimes:
    """One SIGKILL-to-safe-belt, in wall-clock seconds from the kill, split by stage."""

    spawned: float  # the new gateway process started (the restart delay)
    control: float  # its Request Control reached the treadmill (imports, connect, discovery)
    target: float  # its turnaround speed reached the treadmill
    safe: float  # the belt at or below 2.2 km/h (the treadmill's own deceleration from there)
    seen: float  # when the simulator's next record showed it (physics run at its 1 Hz records)

    def stages(self) -> dict[str, float]:
        return {
            "restart delay": self.spawned,
            "start-up to Request Control": self.control - self.spawned,
            "Request Control to the turnaround speed": self.target - self.control,
            "the belt slowing (6 -> 2.2 km/h)": self.safe - self.target,
            "total": self.safe,
            "total, as the next record shows it": self.seen,
        }


async def one_process_crash(
    zoos: tuple[str, str], restart_s: float, folder: Path, broker: str, rng: random.Random
) -> CrashTimes:
    from tests.e2e.test_gateway_signals import start_gateway, until, write_config
    from tests.support.bluezoo import peripheral_running
    from tests.support.mosquitto import free_port

    mqtt = f'broker = "{broker}"' + (f"\nport = {free_port()}" if broker == "embedded" else "")
    config, plan = write_config(folder, mqtt)
    station = SimulatedStation(spec=StationSpec(with_hr=False))
    clock = LoopClock(1.0)
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = zoos[0]
    async with peripheral_running(station, clock) as sim:
        first = await start_gateway(config, plan, zoos[0], speedup=1.0)
        await until(sim, lambda: station.treadmill.belt_kmh >= 5.99, "backward", seconds=120)
        await asyncio.sleep(rng.uniform(0.0, 2.0))  # a crash at any moment of a record's cycle
        first.kill()
        died = clock.now()
        await first.wait()
        speed = station.treadmill.belt_kmh  # nothing slows it until the next gateway writes
    killed = len(station.writes)
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = zoos[1]
    async with peripheral_running(station, clock) as sim:
        await asyncio.sleep(max(0.0, restart_s - (clock.now() - died)))
        spawned = clock.now()
        second = await start_gateway(config, plan, zoos[1], speedup=1.0)
        await until(sim, lambda: station.treadmill.belt_kmh <= 2.2, "slowed", seconds=60)
        safe = clock.now()
        second.send_signal(signal.SIGTERM)
        await second.communicate()
    after = station.writes[killed:]
    control = next(w.at for w in after if w.request.op is ControlOp.REQUEST_CONTROL)
    target = next(w.at for w in after if w.request.op is ControlOp.SET_TARGET_SPEED)
    slowing = max(0.0, speed - 2.2) / station.treadmill.spec.decel_kmh_s
    return CrashTimes(
        spawned - died, control - died, target - died, target + slowing - died, safe - died
    )


def process_crashes(
    runs: int, restart_s: float, broker: str, rng: random.Random
) -> list[CrashTimes]:
    from simulators.bluezoo_env import start_bluezoo

    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            with (
                start_bluezoo(folder / "zoo1.log") as one,
                start_bluezoo(folder / "zoo2.log") as two,
            ):
                zoos = (one.bus_address, two.bus_address)
                crash = one_process_crash(zoos, restart_s, folder, broker, rng)
                times.append(asyncio.run(crash))
    return times


def spread(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s, min {min(values):.2f}, max {max(values):.2f} "
        f"(n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["crash", "silence", "process"])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--speedup", type=float, default=10.0)
    parser.add_argument("--restart-s", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument(
        "--broker", choices=["none", "embedded"], default="embedded", help="process: MQTT or not"
    )
    args = parser.parse_args()
    rng = random.Random(11)
    if args.what == "process":
        crashes = process_crashes(args.runs, args.restart_s, args.broker, rng)
        print(
            f"SIGKILL -> belt <= 2.2 km/h, real processes, RestartSec {args.restart_s:g} s, "
            f"broker {args.broker}:"
        )
        for stage in crashes[0].stages():
            print(f"  {stage:40} {spread([c.stages()[stage] for c in crashes])}")
    elif args.what == "crash":
        times = [
            asyncio.run(one_crash(args.speedup, args.restart_s, rng)) for _ in range(args.runs)
        ]
        print(f"crash -> belt <= 2.2 km/h, RestartSec {args.restart_s:g} s: {spread(times)}")
    else:
        pairs = [asyncio.run(one_silence(args.speedup, args.rate, rng)) for _ in range(args.runs)]
        print(f"silence at {args.rate:g} Hz: last record -> alert {spread([a for a, _ in pairs])}")
        print(f"  alert -> Pause at the treadmill {spread([b for _, b in pairs])}")


if __name__ == "__main__":
    main()
