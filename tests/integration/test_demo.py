"""``retrogate demo --headless``: the whole system, end to end, as a script would run it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.store.db import SessionStore
from tests.support.mosquitto import free_port


@pytest.mark.slow
def test_headless_demo_moves_metrics_through_the_broker_and_holds_the_cap() -> None:
    # 20 simulated minutes at 60x: the warm-up, then backward and forward stretches.
    result = subprocess.run(
        [
            *(sys.executable, "-m", "gateway.cli", "demo", "--headless", "--speedup", "60"),
            *("--duration", "1200", "--port", str(free_port())),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    flowed = re.search(
        r"through the broker: (\d+) treadmill records \(of (\d+) recorded, 0 missing\)", out
    )
    assert flowed, out
    assert int(flowed.group(1)) == int(flowed.group(2)) >= 1000
    stretches = re.search(r"backward stretches seen: (\d+);", out)
    assert stretches, out
    assert int(stretches.group(1)) >= 2
    assert "cap 6.00 km/h: HELD" in out
    store = SessionStore.in_dir(Path(os.environ["RETROGATE_DATA_DIR"]))
    try:
        (session,) = store.sessions()
        assert session.records == int(flowed.group(2))
        assert session.plan == "Retro-running intervals"
    finally:
        store.close()
