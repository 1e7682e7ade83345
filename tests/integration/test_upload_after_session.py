"""``[upload] after_session``: a session run on the simulator goes to Strava and
intervals.icu when it ends, exactly once, with or without a restart (issue 27).

The whole gateway runs (in-process simulator, a real mosquitto, the session
store on disk) against the local doubles. Ground truth: the activities each
double made, the FIT bytes it received, what an MQTT subscriber saw.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from gateway.clock import LoopClock
from gateway.config import Settings, UploadConfig
from gateway.platforms.accounts import Accounts
from gateway.service import RunOptions, Service
from gateway.store.db import SessionStore
from gateway.store.export import export
from gateway.store.uploads import UploadQueue
from gateway.workout.plan import parse_plan
from tests.support.mosquitto import Mosquitto
from tests.support.observer import Observer, observing
from tests.support.platforms import IntervalsDouble, StravaDouble, connect_both, http_double

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto]
STATE = "retrogate/sim/state"

PLAN = parse_plan(
    """
    name = "short-retro"
    [[segments]]
    direction = "forward"
    speed_kmh = 5.0
    duration_s = 40
    [[segments]]
    direction = "backward"
    speed_kmh = 4.0
    distance_m = 30
    [[segments]]
    direction = "forward"
    speed_kmh = 5.0
    duration_s = 600
    """,
    "test",
)


def settings(broker: Mosquitto, data: Path, strava_url: str, intervals_url: str) -> Settings:
    return Settings(
        gateway_id="gw",
        data_dir=data,
        mqtt={"broker": "127.0.0.1", "port": broker.port},
        upload=UploadConfig(
            after_session=["strava", "intervals"],
            strava_url=strava_url,
            intervals_url=intervals_url,
            wait_s=30,
        ),
    )


async def run_session(config: Settings, seconds: float = 120) -> Service:
    options = RunOptions(plan=PLAN, sim=True, duration_s=seconds, status_line=False)
    service = Service(config, options, LoopClock(20.0))
    await service.run()
    return service


async def test_sessions_reach_both_services_once_each_across_a_restart(
    tmp_path: Path, broker: Mosquitto, strava: StravaDouble, intervals: IntervalsDouble
) -> None:
    data = tmp_path / "data"
    secrets = connect_both(data, strava, intervals)
    config = settings(broker, data, strava.base, intervals.base)
    watcher = Observer(broker.port)
    async with observing(watcher):
        first = await run_session(config)
        session = first.report()[0].session
        assert session is not None
        await watcher.wait_for(
            lambda: "intervals.icu" in str(watcher.last.get("retrogate/sim/state"))
        )
        state = watcher.json(STATE)
        second = await run_session(config)  # a restart: a new session, the first not again
    (strava_id,) = [a for a in strava.activities if strava.activities[a]["name"] == "Short retro"][
        :1
    ]
    assert f"Strava {strava.base}/activities/{strava_id}" in state["upload"]
    assert f"intervals.icu {intervals.base}/activities/" in state["upload"]

    later = second.report()[0].session
    assert later is not None
    assert later != session
    assert len(strava.activities) == 2
    assert len(strava.received) == 2
    assert len(intervals.activities) == 2
    assert len(intervals.received) == 2
    store = SessionStore.in_dir(data)
    try:
        for number, received in ((session, strava.received[0]), (later, strava.received[1])):
            assert received.data == export(store, number, "fit")
            assert received.fields["external_id"] == f"retrogate-gw-sim-{number}"
            assert "Backward: " in received.fields["description"]
            assert received.fields["trainer"] == "1"
        uploads = UploadQueue(store).of_sessions()
        assert {u.state for ups in uploads.values() for u in ups} == {"done"}
    finally:
        store.close()
    # the status of an upload is asked at most once a second (Strava's advice)
    polls: dict[str, list[float]] = {}
    for when, method, path in strava.times:
        if method == "GET":
            polls.setdefault(path, []).append(when)
    assert polls
    for times in polls.values():
        assert all(b - a >= 0.99 for a, b in itertools.pairwise(times)), times
    everything = b"".join(payload for _, payload, _ in watcher.messages).decode(errors="replace")
    for secret in secrets:
        assert secret not in everything


async def test_a_broken_network_delays_the_upload_to_the_next_start_and_loses_nothing(
    tmp_path: Path, broker: Mosquitto, strava: StravaDouble, intervals: IntervalsDouble
) -> None:
    data = tmp_path / "data"
    connect_both(data, strava, intervals)
    with http_double() as gone:
        nowhere = gone.url_for("/").rstrip("/")  # a port nobody listens on after this
    offline = settings(broker, data, nowhere, nowhere).model_copy(
        update={
            "upload": UploadConfig(
                after_session=["strava", "intervals"],
                strava_url=nowhere,
                intervals_url=nowhere,
                wait_s=1,
            )
        }
    )
    watcher = Observer(broker.port)
    async with observing(watcher):
        first = await run_session(offline, seconds=60)
        await watcher.wait_for(lambda: "waiting" in str(watcher.last.get(STATE)))
    session = first.report()[0].session
    said = watcher.json(STATE)["upload"]
    assert "Strava waiting (cannot reach Strava: ConnectError" in said
    assert "intervals.icu waiting (cannot reach intervals.icu: ConnectError" in said
    assert strava.received == []
    assert intervals.received == []

    # the network is back; the next start sends what waited (before its own session ends)
    store = SessionStore.in_dir(data)
    try:  # the backoff said "in 30 s": make it due now instead of waiting in the test
        queue = UploadQueue(store)
        for service in ("strava", "intervals"):
            upload = queue.get(session or 0, service)
            queue.update(upload, "queued", time.time(), next_try=time.time())
    finally:
        store.close()
    online = settings(broker, data, strava.base, intervals.base)
    await run_session(online, seconds=60)
    sessions = {r.fields["external_id"] for r in strava.received}
    assert f"retrogate-gw-sim-{session}" in sessions
    assert len(strava.activities) == 2
    assert len(intervals.activities) == 2


async def test_an_upload_that_fails_for_good_is_an_alert_and_says_what_to_do(
    tmp_path: Path, broker: Mosquitto, strava: StravaDouble, intervals: IntervalsDouble
) -> None:
    """The runner revoked retrogate's access on strava.com: the refresh is refused."""
    data = tmp_path / "data"
    connect_both(data, strava, intervals)
    account = Accounts(data).load("strava")
    assert account is not None
    Accounts(data).save("strava", account | {"expires_at": time.time() - 60})
    strava.revoked = True
    config = settings(broker, data, strava.base, intervals.base)
    config.upload.after_session = ["strava"]
    watcher = Observer(broker.port)
    async with observing(watcher):
        await run_session(config, seconds=60)
        await watcher.wait_for(lambda: "FAILED" in str(watcher.last.get(STATE)))
        await watcher.wait_for(lambda: any(b"upload_failed" in m for t, m, _ in watcher.messages))
    said = watcher.json(STATE)["upload"]
    assert said == "Strava FAILED: Strava refused the saved authorization: run `retrogate " \
        "connect strava` again"  # fmt: skip
    alerts = [m for t, m, _ in watcher.messages if t == "retrogate/sim/alerts"]
    failed = [m for m in alerts if b"upload_failed" in m]
    assert len(failed) == 1, failed  # said once, not once per report of the same upload
    assert b"the upload of session" in failed[0]
    assert b"retrogate connect strava" in failed[0]
    assert strava.received == []
