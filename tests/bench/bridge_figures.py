"""The bridge's extra hop, printed (not asserted), in wall-clock milliseconds.

    uv run python -m tests.bench.bridge_figures [--records 1000] [--rate 4]

Over BlueZoo with four adapters, at real time: the simulator's treadmill
(hci0, in this process) notifies Treadmill Data at ``--rate`` Hz, the gateway
(hci1) reads it and its bridge (hci2) notifies a plain bleak app (hci3).
Every frame is timed where it leaves the simulator, where the gateway's
station has decoded it (the direct link), and where the app's callback gets
the bridged frame. Figures: median and p99 of the direct link, of the bridged
path, and of the extra hop (the app's time minus the station's, per record).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from bleak import BleakClient

from gateway.ftms import uuids as U
from gateway.hub import HubMessage, TelemetrySample
from simulators.bluezoo_env import start_bluezoo
from tests.e2e.test_bridge_bluez import find_bridge, world
from tests.support.bluezoo import (
    APP_ADAPTER,
)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def figures(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:>26}: median {statistics.median(ms):6.2f} ms, p99 {p99(ms):6.2f} ms, "
        f"min {min(ms):.2f}, max {max(ms):.2f} (n={len(ms)})"
    )


async def measure(records: int, rate: float, data_dir: Path) -> None:
    async with world(data_dir, speedup=1.0, rate_hz=rate) as w:
        sent: list[tuple[float, bytes]] = []
        notify = w.sim.server.notify

        def timed(uuid: str, data: bytes) -> None:
            if uuid == U.TREADMILL_DATA:
                sent.append((time.perf_counter(), data))
            notify(uuid, data)

        w.sim.server.notify = timed  # type: ignore[method-assign]
        decoded: list[float] = []

        def on(message: HubMessage) -> None:
            if isinstance(message, TelemetrySample):
                decoded.append(time.perf_counter())

        w.service.stations[0].hub.subscribe(on)
        device = await find_bridge()
        heard: list[tuple[float, bytes]] = []
        enough = asyncio.Event()

        def app_got(_: object, data: bytearray) -> None:
            heard.append((time.perf_counter(), bytes(data)))
            if len(heard) >= records:
                enough.set()

        async with BleakClient(device, bluez={"adapter": APP_ADAPTER}) as client:
            await client.start_notify(U.TREADMILL_DATA, app_got)
            first_sent, first_decoded = len(sent), len(decoded)
            await enough.wait()
    # The i-th frame sent after the app listened is the i-th the station decoded; the
    # app's frames are matched to the frames sent by their bytes, in order.
    direct = [d - s for (s, _), d in zip(sent[first_sent:], decoded[first_decoded:], strict=False)]
    bridged: list[float] = []
    hop: list[float] = []
    at = first_sent - 1
    for t_app, data in heard[:records]:
        while at + 1 < len(sent) and sent[at + 1][1] != data:
            at += 1
        at += 1
        if at >= len(sent):
            break
        bridged.append(t_app - sent[at][0])
        index = at - first_sent
        if 0 <= index < len(decoded) - first_decoded:
            hop.append(t_app - decoded[first_decoded + index])
    print(f"bridge figures: {len(heard)} records at {rate:g} Hz, BlueZoo, real time")
    print(figures("simulator -> station", direct))
    print(figures("simulator -> app (bridged)", bridged))
    print(figures("extra hop (app - station)", hop))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=4.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_bluezoo(Path(tmp) / "bluezoo.log", adapters=4) as zoo,
    ):
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = zoo.bus_address
        asyncio.run(measure(args.records, args.rate, Path(tmp)))


if __name__ == "__main__":
    main()
