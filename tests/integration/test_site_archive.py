"""The whole site under faults (issue 28): three gateways bridged to a central
mosquitto, the archive in PostgreSQL, and everything that goes wrong in a gym.

While the simulated stations run: the central broker is SIGKILLed for 20 s,
the archive is SIGKILLed and started again, one gateway's bridge is thrown
off the central broker. Afterwards every record every gateway made is in
PostgreSQL exactly once, in order (held against each gateway's own SQLite
store), and a command sent on the central broker to one station is answered
once, by that station's gateway only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import aiomqtt
import psycopg
import pytest

from gateway.service import RunOptions
from gateway.store.db import SessionStore
from tests.integration.test_archive import archived, caught_up, same, stored
from tests.integration.test_site import gateway_settings
from tests.support.gateway import running_gateway
from tests.support.mosquitto import Mosquitto, running_mosquitto
from tests.support.observer import Observer, observing
from tests.support.postgres import Postgres, running_postgres

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow, pytest.mark.timeout(400)]

OUTAGE_S = 20.0  # the central broker's outage, as the issue asks


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Postgres]:
    with running_postgres(tmp_path / "pg") as server:
        yield server


@contextlib.contextmanager
def archive_process(postgres: Postgres, central: Mosquitto, log: Path) -> Iterator[
    subprocess.Popen[bytes]
]:  # fmt: skip
    """``retrogate archive`` as its own process (so it can be SIGKILLed)."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "archive",
                "--db",
                postgres.url,
                "--broker",
                f"127.0.0.1:{central.port}",
            ],
            stdout=out,
            stderr=out,
            env={**os.environ},
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(20)


def bridges_up(watcher: Observer, gateways: Iterable[str], since: int) -> bool:
    """Each gateway's bridge said it is connected ("1") after message ``since``."""
    said = {t for t, p, _ in watcher.messages[since:] if t.endswith("/bridge") and p == b"1"}
    return all(f"retrogate/gateways/{g}/bridge" in said for g in gateways)


WHOLE = """
SELECT count(*) FILTER (WHERE n = top AND low = 1), count(*) FROM (
    SELECT count(*) AS n, max(seq) AS top, min(seq) AS low FROM archive_samples
    GROUP BY gateway, station, session, stream) t
"""


def _whole(url: str, streams: int, within: float) -> None:
    """Until every stream the archive has (at least ``streams``) runs 1..N without a gap:
    checked after each of its commits (it NOTIFYs archive_written)."""
    deadline = time.monotonic() + within
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("LISTEN archive_written")
        while True:
            row = db.execute(WHOLE).fetchone()
            assert row is not None
            if row[1] >= streams and row[0] == row[1]:
                return
            assert time.monotonic() < deadline, f"gaps left in the archive: {row}"
            for _ in db.notifies(timeout=1.0, stop_after=1):
                pass


def result_events(data: Path, command_id: str) -> int:
    """How many answers to ``command_id`` a gateway recorded."""
    store = SessionStore.in_dir(data)
    try:
        return sum(
            1
            for info in store.sessions()
            for _, kind, body in store.iter_events(info.id)
            if kind == "result" and json.loads(body).get("id") == command_id
        )
    finally:
        store.close()


async def test_three_gateways_and_the_archive_survive_a_gyms_faults(
    tmp_path: Path, postgres: Postgres
) -> None:
    log = tmp_path / "archive.log"
    async with running_mosquitto(tmp_path / "central") as central:
        gateways = {
            "gw-a": gateway_settings("gw-a", ["a-1", "a-2"], central, tmp_path),
            "gw-b": gateway_settings("gw-b", ["b-1", "b-2"], central, tmp_path),
            "gw-c": gateway_settings("gw-c", ["c-1", "c-2"], central, tmp_path),
        }
        watcher = Observer(central.port, identifier="office")
        with contextlib.ExitStack() as archives:
            first_archive = archives.enter_context(archive_process(postgres, central, log))
            async with (
                observing(watcher),
                running_gateway(gateways["gw-a"], RunOptions(sim=True)),
                running_gateway(gateways["gw-b"], RunOptions(sim=True)),
                running_gateway(gateways["gw-c"], RunOptions(sim=True)),
            ):
                stations = [s.id for g in gateways.values() for s in g.stations]
                await watcher.wait_for(
                    lambda: all(
                        len(watcher.seqs[f"retrogate/{s}/telemetry"]) >= 20 for s in stations
                    )
                )
                # 1. the central broker dies (SIGKILL) and is away for 20 s
                central.kill()
                await asyncio.sleep(OUTAGE_S)  # the outage itself is what is tested
                mark = len(watcher.messages)
                await central.start()
                await watcher.wait_for(lambda: bridges_up(watcher, gateways, mark), within=60)
                # 2. the archive dies (SIGKILL) and is started again
                first_archive.send_signal(signal.SIGKILL)
                first_archive.wait(20)
                archives.enter_context(archive_process(postgres, central, log))
                # 3. gw-c's bridge is thrown off the central broker (its client id taken)
                mark = len(watcher.messages)
                async with aiomqtt.Client(
                    "127.0.0.1", central.port, identifier="retrogate-bridge-gw-c"
                ):
                    pass
                await watcher.wait_for(lambda: bridges_up(watcher, ["gw-c"], mark), within=60)
                # 4. a command from the office to one station of gw-b
                async with aiomqtt.Client("127.0.0.1", central.port) as office:
                    body = json.dumps({"id": "site-1", "cmd": "start"})
                    await office.publish("retrogate/b-2/cmd", body, qos=1)
                await watcher.wait_for(lambda: "retrogate/b-2/cmd/result" in watcher.last)
                # what the archive missed (before it first subscribed, in a crash) it asks
                # the gateways for: they must be running to answer
                await asyncio.to_thread(_whole, postgres.url, 12, 180)
            # the gateways stopped cleanly (their sessions ended): the archive catches up
            for name, settings in gateways.items():
                await caught_up(postgres.url, name, settings.data_dir, within=180)
    assert b"Traceback" not in log.read_bytes()
    for name, settings in gateways.items():
        mine, theirs = stored(settings.data_dir), archived(postgres.url, name)
        assert same(theirs, mine), name
        for (_, _), rows in theirs.items():
            seqs = [seq for seq, _ in rows]
            assert seqs == list(range(1, len(seqs) + 1))  # in order, none twice, none missing
    with psycopg.connect(postgres.url) as db:
        sessions = db.execute(
            "SELECT gateway, station, ended IS NOT NULL FROM archive_sessions ORDER BY 1, 2"
        ).fetchall()
        ordered = db.execute(
            "SELECT count(*) FROM (SELECT ts < lag(ts) OVER (PARTITION BY gateway, station, "
            "session, stream ORDER BY seq) AS back FROM archive_samples) t WHERE back"
        ).fetchone()
    assert [(g, s) for g, s, _ in sessions] == [
        (g, s.id) for g, c in gateways.items() for s in c.stations
    ]
    assert all(ended for _, _, ended in sessions)
    assert ordered == (0,)
    answers = [t for t, _, _ in watcher.messages if t.endswith("/cmd/result")]
    assert answers == ["retrogate/b-2/cmd/result"]
    assert result_events(gateways["gw-b"].data_dir, "site-1") == 1
    assert result_events(gateways["gw-a"].data_dir, "site-1") == 0
    assert result_events(gateways["gw-c"].data_dir, "site-1") == 0
