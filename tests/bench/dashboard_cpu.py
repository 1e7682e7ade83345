"""CPU of the dashboard at 4 Hz updates, one station and ten (issue 6), printed.

    uv run python -m tests.bench.dashboard_cpu [--seconds 20]

The app runs headless (``run_test``) on a 120x40 screen; messages shaped like
the gateway's (telemetry and state at 4 Hz, HR at 1 Hz per station) go
through the same path the MQTT worker uses. Network I/O is left out: the
figure is the model plus drawing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from dashboard.app import Dashboard


def _messages(station: str, seq: int) -> list[tuple[str, bytes]]:
    backward = (seq // 40) % 2 == 1
    state = {
        "v": 1, "ts": time.time(), "speed_kmh": 5.5, "target_kmh": 6.0, "cap_kmh": 6.0,
        "capped": backward, "direction": "backward" if backward else "forward",
        "running": True, "distance_m": seq, "elapsed_s": seq // 4, "energy_kcal": seq / 40,
        "energy_method": "acsm", "heart_rate_bpm": 120, "hr_max_bpm": 180.0,
        "segment": {"index": 1, "count": 5, "direction": "backward" if backward else "forward",
                    "note": "x", "left_s": 30.0, "left_m": None, "finished": False},
    }  # fmt: skip
    out = [
        (f"retrogate/{station}/telemetry", json.dumps({"v": 1, "seq": seq, "speed_kmh": 5.5})),
        (f"retrogate/{station}/state", json.dumps(state)),
    ]
    if seq % 4 == 0:
        out.append((f"retrogate/{station}/heart_rate", json.dumps({"v": 1, "seq": seq // 4, "heart_rate_bpm": 120})))  # fmt: skip
    return [(t, p.encode()) for t, p in out]


async def measure(stations: int, seconds: float) -> float:
    """Share of one core used while feeding ``stations`` at 4 Hz for ``seconds``."""
    app = Dashboard(None)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        cpu0, t0 = time.process_time(), time.monotonic()
        seq = 0
        while time.monotonic() - t0 < seconds:
            seq += 1
            for n in range(stations):
                for topic, payload in _messages(f"lane-{n}", seq):
                    app._on_mqtt(topic, payload)
            await asyncio.sleep(0.25)  # the 4 Hz cadence being measured
        return (time.process_time() - cpu0) / (time.monotonic() - t0)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    for stations in (1, 10):
        share = asyncio.run(measure(stations, args.seconds))
        print(f"{stations:3} station(s) at 4 Hz: dashboard CPU {share * 100:.1f} % of a core")


if __name__ == "__main__":
    main()
