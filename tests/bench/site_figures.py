"""A site's figures (issue 28), printed, not asserted: stations at 4 Hz through the
bridges and the central broker into the archive in PostgreSQL.

    uv run python -m tests.bench.site_figures [--counts 10 50 100] [--seconds 20]

Each size gets its own world: a central mosquitto, one gateway broker per ten
stations (the embedded mosquitto with the bridge ``[mqtt.bridge]`` writes,
started by the gateway's own code), PostgreSQL (initdb in a temporary
directory) and ``retrogate archive`` as its own process. The stations are a
load generator speaking the contract (telemetry at 4 Hz, heart rate at 1 Hz,
each with gateway, session and seq) into the gateway brokers: the gateways'
own CPU is measured elsewhere (mqtt_figures, dashboard_cpu); this measures
the path from a gateway's broker to a row.

Figures: rows per second sustained (counted in PostgreSQL), lag from a
record's timestamp to its row's commit (median, p99), the archive's and the
central broker's CPU share (of one core, from /proc) and the archive's
memory (RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import psycopg

from gateway.config import CentralBridge
from gateway.mqtt.broker import EmbeddedBroker, Uplink, embedded_broker
from tests.support.mosquitto import free_port, running_mosquitto
from tests.support.postgres import running_postgres

PER_GATEWAY = 10
HZ = 4.0
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    """Resident memory, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.asynccontextmanager
async def gateway_brokers(
    root: Path, central_port: int, stations: list[list[str]]
) -> AsyncIterator[list[EmbeddedBroker]]:
    """One bridged mosquitto per gateway, as ``run`` starts it."""
    async with contextlib.AsyncExitStack() as stack:
        brokers = []
        for i, names in enumerate(stations):
            uplink = Uplink(
                CentralBridge(address="127.0.0.1", port=central_port),
                f"gw-{i:02}",
                "retrogate",
                tuple(names),
            )
            broker = await stack.enter_async_context(
                embedded_broker("127.0.0.1", free_port(), root / f"gw-{i:02}", "mosquitto", uplink)
            )
            brokers.append(broker)
        yield brokers


async def load(broker: EmbeddedBroker, gateway: str, names: list[str], stop: asyncio.Event) -> int:
    """Telemetry at 4 Hz and heart rate at 1 Hz for each station; returns messages sent."""
    sent = 0
    seq = dict.fromkeys(names, 0)
    hr = dict.fromkeys(names, 0)
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=f"load-{gateway}",
        username=broker.username,
        password=broker.password,
    ) as client:
        for name in names:
            session = {"v": 1, "ts": time.time(), "gateway": gateway, "session": 1,
                       "started": time.time()}  # fmt: skip
            await client.publish(f"retrogate/{name}/session", json.dumps(session), qos=1,
                                 retain=True)  # fmt: skip
        tick = 0
        next_at = time.monotonic()
        while not stop.is_set():
            for name in names:
                seq[name] += 1
                body = {"v": 1, "seq": seq[name], "ts": time.time(), "gateway": gateway,
                        "session": 1, "direction": "backward", "capped": True,
                        "cap_kmh": 6.0, "speed_kmh": 5.5, "distance_m": seq[name],
                        "elapsed_s": seq[name] // 4}  # fmt: skip
                await client.publish(f"retrogate/{name}/telemetry", json.dumps(body), qos=1)
                sent += 1
                if tick % int(HZ) == 0:
                    hr[name] += 1
                    beat = {"v": 1, "seq": hr[name], "ts": time.time(), "gateway": gateway,
                            "session": 1, "heart_rate_bpm": 130, "rr_intervals_s": []}  # fmt: skip
                    await client.publish(f"retrogate/{name}/heart_rate", json.dumps(beat), qos=1)
                    sent += 1
            tick += 1
            next_at += 1 / HZ
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return sent


async def one_size(count: int, seconds: float, warm_up: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = [f"st-{i:03}" for i in range(count)]
        groups = [names[i : i + PER_GATEWAY] for i in range(0, count, PER_GATEWAY)]
        with running_postgres(root / "pg") as pg:
            async with running_mosquitto(root / "central", autosave_s=10) as central:
                archive = await asyncio.create_subprocess_exec(
                    *[sys.executable, "-m", "gateway.cli", "archive", "--db", pg.url],
                    *["--broker", f"127.0.0.1:{central.port}"],
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                try:
                    async with gateway_brokers(root, central.port, groups) as brokers:
                        stop = asyncio.Event()
                        loads = [
                            asyncio.create_task(load(b, f"gw-{i:02}", groups[i], stop))
                            for i, b in enumerate(brokers)
                        ]
                        await asyncio.sleep(warm_up)  # the measured window starts after it
                        assert central.process is not None
                        t0, a0, c0 = time.time(), cpu_s(archive.pid), cpu_s(central.process.pid)
                        await asyncio.sleep(seconds)  # the measured window
                        t1, a1, c1 = time.time(), cpu_s(archive.pid), cpu_s(central.process.pid)
                        memory = rss_mib(archive.pid)
                        stop.set()
                        await asyncio.gather(*loads)
                        with psycopg.connect(pg.url) as db:
                            row = db.execute(
                                "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY "
                                "extract(epoch FROM archived - ts)), percentile_cont(0.99) "
                                "WITHIN GROUP (ORDER BY extract(epoch FROM archived - ts)) "
                                "FROM archive_samples WHERE ts >= to_timestamp(%s) "
                                "AND ts < to_timestamp(%s)",
                                (t0, t1),
                            ).fetchone()
                            disk = db.execute(
                                "SELECT sum(pg_total_relation_size(inhrelid)), "
                                "(SELECT count(*) FROM archive_samples) FROM pg_inherits "
                                "WHERE inhparent = 'archive_samples'::regclass"
                            ).fetchone()
                finally:
                    archive.terminate()
                    await archive.wait()
        assert row is not None
        window = t1 - t0
        return {
            "stations": count,
            "gateways": len(groups),
            "rows_per_s": row[0] / window,
            "expected_per_s": count * (HZ + 1),
            "lag_p50_ms": float(row[1] or 0) * 1000,
            "lag_p99_ms": float(row[2] or 0) * 1000,
            "archive_cpu_pct": 100 * (a1 - a0) / window,
            "central_cpu_pct": 100 * (c1 - c0) / window,
            "archive_rss_mib": memory,
            "bytes_per_row": float(disk[0]) / max(int(disk[1]), 1) if disk else 0.0,
        }


async def main(counts: list[int], seconds: float, warm_up: float) -> None:
    print(f"{'stations':>8} {'gateways':>8} {'rows/s':>8} {'offered':>8} {'lag p50':>8} "
          f"{'lag p99':>8} {'archive CPU':>11} {'central CPU':>11} "
          f"{'archive RSS':>11} {'disk/row':>9}")  # fmt: skip
    for count in counts:
        f = await one_size(count, seconds, warm_up)
        print(f"{f['stations']:>8.0f} {f['gateways']:>8.0f} {f['rows_per_s']:>8.0f} "
              f"{f['expected_per_s']:>8.0f} {f['lag_p50_ms']:>6.0f}ms {f['lag_p99_ms']:>6.0f}ms "
              f"{f['archive_cpu_pct']:>10.0f}% {f['central_cpu_pct']:>10.0f}% "
              f"{f['archive_rss_mib']:>8.0f}MiB {f['bytes_per_row']:>7.0f} B",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warm-up", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main(args.counts, args.seconds, args.warm_up))
