"""Sessions to store and export in tests: a minute of samples, HR and segments."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store.db import Sample, SessionStore


def telemetry(seq: int, ts: float, speed: float, distance: int) -> Sample:
    body = {"v": 1, "seq": seq, "ts": ts, "speed_kmh": speed, "distance_m": distance}
    body |= {"elapsed_s": seq, "energy_kcal": seq // 10}
    return Sample(seq, ts, json.dumps(body))


def hr(seq: int, ts: float, bpm: int) -> Sample:
    return Sample(seq, ts, json.dumps({"v": 1, "seq": seq, "ts": ts, "heart_rate_bpm": bpm}))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SessionStore]:
    """A session store on disk, closed after the test."""
    opened = SessionStore(tmp_path / "s.sqlite3")
    yield opened
    opened.close()


def fill(store: SessionStore, session: int, n: int = 60) -> float:
    t0 = time.time() - n
    store.write(
        [(session, "telemetry", telemetry(i, t0 + i, 5.0, i * 2)) for i in range(1, n + 1)]
        + [(session, "heart_rate", hr(i, t0 + i + 0.5, 100 + i)) for i in range(1, n + 1)],
        [
            (session, t0 + 0.5, "segment", json.dumps({"index": 0, "direction": "forward"})),
            (session, t0 + n / 2, "segment", json.dumps({"index": 1, "direction": "backward"})),
        ],
        [],
    )
    return t0
