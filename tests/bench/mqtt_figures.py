"""MQTT figures for issue 5, printed (not asserted): latency, many stations, 8-hour memory.

    uv run python -m tests.bench.mqtt_figures latency   [--seconds 60]
    uv run python -m tests.bench.mqtt_figures answers   [--count 200] [--qos 1]
    uv run python -m tests.bench.mqtt_figures stations  [--counts 10 50 100] [--seconds 30]
    uv run python -m tests.bench.mqtt_figures memory    [--hours 8] [--speedup 400]

Each starts its own mosquitto on a free loopback port (needs the Debian
package). ``stations`` runs the gateway as a separate process so its CPU time
is its own; the subscriber counting gaps runs here.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
import tomli_w
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.hub import HubMessage, TelemetrySample
from gateway.service import RunOptions
from tests.support.gateway import running_gateway, settings_for
from tests.support.mosquitto import running_mosquitto
from tests.support.observer import Observer, gaps, observing

FOUR_HZ = Path(__file__).resolve().parents[1] / "scenarios" / "four_hz.toml"


def _quantiles(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100)
    return (
        f"n={len(values)} p50={statistics.median(values):.2f} ms p90={q[89]:.2f} ms "
        f"p99={q[98]:.2f} ms max={max(values):.2f} ms"
    )


async def latency(seconds: float) -> None:
    """A record entering the hub (just decoded from the in-process link) -> a
    subscriber receiving it through mosquitto on loopback."""
    loop = asyncio.get_running_loop()
    produced: dict[int, float] = {}
    received: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with running_mosquitto(Path(tmp) / "broker") as broker:
            watcher = Observer(broker.port, identifier="bench", topics=("retrogate/sim/telemetry",))
            original = watcher._keep

            async def keep(message: object) -> None:
                received[json.loads(message.payload)["seq"]] = loop.time()  # type: ignore[attr-defined]
                await original(message)  # type: ignore[arg-type]

            watcher._keep = keep  # type: ignore[method-assign]
            async with observing(watcher):
                settings = settings_for(broker.port, Path(tmp) / "data", discovery=False)
                async with running_gateway(
                    settings, RunOptions(sim=True, scenario=FOUR_HZ), speedup=1.0
                ) as svc:

                    def on_hub(message: HubMessage) -> None:
                        if isinstance(message, TelemetrySample):
                            produced[message.seq] = loop.time()

                    svc.stations[0].hub.subscribe(on_hub)
                    await asyncio.sleep(seconds)  # measuring window, not synchronisation
    lat = [(received[s] - produced[s]) * 1000 for s in produced if s in received]
    print(f"latency record->subscriber over {seconds:.0f} s at 4 Hz: {_quantiles(lat)}")


async def answers(count: int, qos: int) -> None:
    """A command published -> its answer on the v5 response topic, one at a time."""
    loop = asyncio.get_running_loop()
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with running_mosquitto(Path(tmp) / "broker") as broker:
            settings = settings_for(broker.port, Path(tmp) / "data", discovery=False)
            async with (
                running_gateway(settings, RunOptions(sim=True), speedup=1.0),
                aiomqtt.Client(
                    "127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5
                ) as client,
            ):
                await client.subscribe("retrogate/reply/bench", qos=1)
                for i in range(count):
                    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                    props.ResponseTopic = "retrogate/reply/bench"
                    body = json.dumps({"id": f"b{i}", "cmd": "set_incline", "value": i % 5})
                    sent = loop.time()
                    await client.publish("retrogate/sim/cmd", body, qos=qos, properties=props)
                    await anext(client.messages)
                    times.append((loop.time() - sent) * 1000)
                    await asyncio.sleep(0.06)  # beyond the rate limit's 20 per second
    print(f"command -> answer at QoS {qos}: {_quantiles(times)}")


def _all_seen(watcher: Observer, count: int) -> bool:
    return len(watcher.seqs) >= 2 * count  # both streams of every station


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def stations(counts: list[int], seconds: float) -> None:
    """One gateway process, N simulated stations (4 Hz treadmill, 1 Hz HR), real time."""
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp:
            async with running_mosquitto(Path(tmp) / "broker") as broker:
                config = Path(tmp) / "retrogate.toml"
                config.write_text(
                    tomli_w.dumps(
                        {
                            "gateway_id": "bench",
                            "data_dir": str(Path(tmp) / "data"),
                            "stations": [{"id": f"s{i}", "treadmill": "sim"} for i in range(count)],
                            "mqtt": {
                                "broker": "127.0.0.1",
                                "port": broker.port,
                                "discovery": False,
                            },
                        }
                    )
                )
                watcher = Observer(
                    broker.port,
                    identifier="bench",
                    topics=("retrogate/+/telemetry", "retrogate/+/heart_rate"),
                )
                async with observing(watcher):
                    gateway = subprocess.Popen(  # noqa: ASYNC220 (started once, outside the measured window)
                        [
                            sys.executable,
                            "-m",
                            "gateway.cli",
                            "run",
                            "--config",
                            str(config),
                            "--no-status",
                            "--scenario",
                            str(FOUR_HZ),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    try:
                        await watcher.wait_for(functools.partial(_all_seen, watcher, count), 120)
                        cpu0, t0 = _cpu_seconds(gateway.pid), time.monotonic()
                        n0 = sum(len(s) for s in watcher.seqs.values())
                        await asyncio.sleep(seconds)  # measuring window
                        cpu1, t1 = _cpu_seconds(gateway.pid), time.monotonic()
                        n1 = sum(len(s) for s in watcher.seqs.values())
                    finally:
                        gateway.send_signal(2)
                        gateway.wait(30)
                    missing = sum(len(gaps(s)) for s in watcher.seqs.values())
        share = (cpu1 - cpu0) / (t1 - t0)
        print(
            f"{count:4} stations: gateway CPU {share * 100:.1f} % of a core "
            f"({share * 100 / count:.2f} % per station), {(n1 - n0) / (t1 - t0):.0f} msg/s "
            f"received, gaps {missing}"
        )


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def memory(hours: float, speedup: float) -> None:
    """A simulated session of ``hours`` at ``speedup``: RSS every simulated half hour."""
    with tempfile.TemporaryDirectory() as tmp:
        async with running_mosquitto(Path(tmp) / "broker") as broker:
            settings = settings_for(broker.port, Path(tmp) / "data", discovery=False)
            options = RunOptions(sim=True, scenario=FOUR_HZ)
            async with running_gateway(settings, options, speedup=speedup) as svc:
                clock = svc.clock
                start = clock.now()
                samples: list[tuple[float, float]] = []
                while (elapsed := clock.now() - start) < hours * 3600:
                    samples.append((elapsed / 3600, _rss_mib()))
                    await clock.sleep(1800)
                assert svc.recorder is not None
                record = svc.recorder.records["sim"]
                stored = record.stored["telemetry"]
        db = (Path(tmp) / "data" / "sessions.sqlite3").stat().st_size / 2**20
    print("simulated h  RSS MiB")
    for h, rss in samples:
        print(f"{h:11.1f}  {rss:7.1f}")
    print(f"records stored {stored}; store on disk {db:.1f} MiB")


def main() -> None:
    """Parse arguments and run one measurement."""
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("latency")
    p.add_argument("--seconds", type=float, default=60)
    p = sub.add_parser("answers")
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--qos", type=int, default=1)
    p = sub.add_parser("stations")
    p.add_argument("--counts", type=int, nargs="+", default=[10, 50, 100])
    p.add_argument("--seconds", type=float, default=30)
    p = sub.add_parser("memory")
    p.add_argument("--hours", type=float, default=8)
    p.add_argument("--speedup", type=float, default=400)
    args = parser.parse_args()
    if args.what == "latency":
        asyncio.run(latency(args.seconds))
    elif args.what == "answers":
        asyncio.run(answers(args.count, args.qos))
    elif args.what == "stations":
        asyncio.run(stations(args.counts, args.seconds))
    else:
        asyncio.run(memory(args.hours, args.speedup))


if __name__ == "__main__":
    main()
