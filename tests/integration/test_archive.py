"""The site's archive (issue 28): a gateway's every record in PostgreSQL, exactly once.

Real parts: mosquitto (the central broker), PostgreSQL from Debian (initdb in
a temporary directory), the gateway in process with the simulator, the
archive in process. Ground truth is the gateway's own SQLite store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiomqtt
import psycopg
import pytest

from gateway.archive.service import Archive
from gateway.cli import main
from gateway.mqtt.consumer import BrokerAddress
from gateway.service import RunOptions
from gateway.store.db import SessionStore
from tests.support.gateway import running_gateway, settings_for
from tests.support.mosquitto import Mosquitto
from tests.support.postgres import Postgres, running_postgres

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Postgres]:
    with running_postgres(tmp_path / "pg") as server:
        yield server


@contextlib.asynccontextmanager
async def archiving(postgres: Postgres, broker: Mosquitto) -> AsyncIterator[Archive]:
    archive = Archive(postgres.url, BrokerAddress("127.0.0.1", broker.port), "retrogate", "arch")
    task = asyncio.create_task(archive.run())
    try:
        async with asyncio.timeout(20):
            await archive.subscriber.connected.wait()
        yield archive
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def stored(data: Path) -> dict[tuple[int, str], list[tuple[int, str]]]:
    """What the gateway recorded: (session, stream) -> [(seq, payload)]."""
    store = SessionStore.in_dir(data)
    try:
        out: dict[tuple[int, str], list[tuple[int, str]]] = {}
        for info in store.sessions():
            for stream in ("telemetry", "heart_rate"):
                rows = [(s.seq, s.payload) for s in store.iter_samples(info.id, stream)]
                if rows:
                    out[(info.id, stream)] = rows
        return out
    finally:
        store.close()


def archived(url: str, gateway: str) -> dict[tuple[int, str], list[tuple[int, str]]]:
    """What the archive holds for one gateway, in seq order."""
    out: dict[tuple[int, str], list[tuple[int, str]]] = {}
    with psycopg.connect(url) as db:
        for session, stream, seq, payload in db.execute(
            "SELECT session, stream, seq, payload::text FROM archive_samples WHERE gateway = %s "
            "ORDER BY session, stream, seq",
            (gateway,),
        ):
            out.setdefault((session, stream), []).append((seq, payload))
    return out


def same(a: dict[tuple[int, str], list[tuple[int, str]]],
         b: dict[tuple[int, str], list[tuple[int, str]]]) -> bool:  # fmt: skip
    """The same messages (payloads compared as JSON: jsonb normalises the text)."""

    def norm(d: dict[tuple[int, str], list[tuple[int, str]]]) -> dict[object, object]:
        return {k: [(seq, json.loads(p)) for seq, p in v] for k, v in d.items()}

    return norm(a) == norm(b)


def _written(url: str, done: Callable[[], bool], within: float = 20.0) -> None:
    """Until ``done()``, checked after each commit of the archive."""
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN archive_written")
        deadline = time.monotonic() + within
        while not done():
            assert time.monotonic() < deadline, "the archive wrote nothing more"
            for _ in listener.notifies(timeout=1.0, stop_after=1):
                pass


def _caught_up(url: str, gateway: str, data: Path, within: float) -> bool:
    """Compare after each commit of the archive (it NOTIFYs archive_written)."""
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN archive_written")
        deadline = time.monotonic() + within
        while not same(archived(url, gateway), stored(data)):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for _ in listener.notifies(timeout=left, stop_after=1):
                pass
    return True


async def caught_up(url: str, gateway: str, data: Path, within: float = 60.0) -> None:
    """Until the archive holds exactly what the gateway stored."""
    assert await asyncio.to_thread(_caught_up, url, gateway, data, within), (
        f"the archive did not catch up with {gateway} in {within} s"
    )


async def test_every_record_once_and_a_message_delivered_again_changes_nothing(
    tmp_path: Path, broker: Mosquitto, postgres: Postgres
) -> None:
    data = tmp_path / "data"
    async with archiving(postgres, broker) as archive:
        async with running_gateway(settings_for(broker.port, data), RunOptions(sim=True)):
            await asyncio.sleep(2.0)  # a few seconds of a session: what is recorded is the test
        await caught_up(postgres.url, "gw", data)
        rows = archive.stats.rows
        # every telemetry message published again (an outbox replay, a QoS 1 duplicate)
        store = SessionStore.in_dir(data)
        try:
            (info,) = store.sessions()
            again = [s.payload for s in store.iter_samples(info.id, "telemetry")]
        finally:
            store.close()
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            for payload in again:
                await client.publish("retrogate/sim/telemetry", payload, qos=1)
        await asyncio.to_thread(_written, postgres.url, lambda: archive.stats.rows >= rows +
                                len(again))  # fmt: skip
    assert same(archived(postgres.url, "gw"), stored(data))
    with psycopg.connect(postgres.url) as db:
        ((sessions, ended),) = db.execute(
            "SELECT count(*), count(ended) FROM archive_sessions WHERE gateway = 'gw'"
        ).fetchall()
        partitions = [r[0] for r in db.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits "
            "WHERE inhparent = 'archive_samples'::regclass"
        )]  # fmt: skip
    assert (sessions, ended) == (1, 1)
    assert len(partitions) == 1
    assert partitions[0].startswith("archive_samples_20")


async def test_a_gap_is_asked_for_again_and_filled_from_the_gateways_store(
    tmp_path: Path, broker: Mosquitto, postgres: Postgres
) -> None:
    """Rows lost after the archive had them (as a central broker that crashed before it
    saved them would lose them): the archive, restarted, finds the gap in the database
    and asks the gateway, which sends them again from its store."""
    data = tmp_path / "data"
    async with running_gateway(settings_for(broker.port, data), RunOptions(sim=True)):
        async with archiving(postgres, broker):
            await asyncio.sleep(2.0)
            await caught_up(postgres.url, "gw", data, within=30)
        with psycopg.connect(postgres.url) as db:
            lost = db.execute(
                "DELETE FROM archive_samples WHERE stream = 'telemetry' AND seq BETWEEN 3 AND 7"
            ).rowcount
        assert lost == 5
        async with archiving(postgres, broker) as archive:
            await caught_up(postgres.url, "gw", data, within=30)
            assert archive.stats.replays_asked >= 1
        # a request for a session that is not this gateway's is refused, and counted
        async with aiomqtt.Client("127.0.0.1", broker.port) as stranger:
            ask = {"v": 1, "station": "sim", "session": 999, "stream": "telemetry",
                   "from_seq": 1, "to_seq": 5}  # fmt: skip
            await stranger.publish("retrogate/gateways/gw/replay", json.dumps(ask), qos=1)
            await stranger.publish("retrogate/gateways/gw/replay", b"{not json", qos=1)
            await stranger.subscribe("retrogate/gateways/gw/diag", qos=1)
            async with asyncio.timeout(30):
                async for message in stranger.messages:
                    diag = json.loads(message.payload)
                    if diag["replays_refused"] >= 2:
                        assert diag["replayed"] >= 5
                        break


async def test_sessions_export_and_show_read_the_archive(
    tmp_path: Path,
    broker: Mosquitto,
    postgres: Postgres,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("RETROGATE_DATA_DIR", str(data))
    async with archiving(postgres, broker):
        async with running_gateway(settings_for(broker.port, data), RunOptions(sim=True)):
            await asyncio.sleep(2.0)
        await caught_up(postgres.url, "gw", data)
    assert main(["sessions", "--db", postgres.url]) == 0
    listing = capsys.readouterr().out
    assert "  sim " in listing
    session = int(listing.splitlines()[1].split()[0])
    fit = tmp_path / "archive.fit"
    assert main(["export", str(session), "--db", postgres.url, "-o", str(fit)]) == 0
    local = tmp_path / "local.fit"
    store = SessionStore.in_dir(data)
    try:
        (info,) = store.sessions()
    finally:
        store.close()
    assert main(["export", str(info.id), "-o", str(local)]) == 0
    from tests.integration.test_uploads import fit_messages

    remote, mine = fit_messages(fit.read_bytes()), fit_messages(local.read_bytes())
    assert len(remote["record"]) == len(mine["record"]) > 0
    assert remote["session"][0]["total_distance"] == mine["session"][0]["total_distance"]
    assert main(["sessions", "show", str(session), "--db", postgres.url, "--no-chart"]) == 0
    assert f"session {session} on sim of gw" in capsys.readouterr().out
    plan = tmp_path / "next.toml"
    assert main(["coach", "--db", postgres.url, "--station", "sim", "-o", str(plan)]) == 0
    assert plan.read_text().startswith("name = ")
