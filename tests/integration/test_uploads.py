"""Uploads to local doubles of Strava and intervals.icu on a real HTTP server (issue 27).

Ground truth is what the double received (the FIT bytes, read back with
fitdecode; the multipart fields; ``external_id``) and how many activities it
made. Time is the uploader's injected wall clock, moved to the next upload's
``next_try``, so backoff and rate-limit waits are asserted, never slept.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import fitdecode
import httpx
import pytest

from gateway.platforms.accounts import Accounts
from gateway.platforms.intervals import Intervals
from gateway.platforms.outcome import BACKOFF_FIRST_S, WINDOW_S
from gateway.platforms.strava import Strava
from gateway.platforms.uploader import Platform, Uploader
from gateway.store.activity import Activity, activity_of
from gateway.store.db import SessionStore
from gateway.store.export import export
from gateway.store.uploads import Upload, UploadQueue
from tests.support.platforms import IntervalsDouble, StravaDouble, http_double, strava_account
from tests.unit.store_helpers import fill


class Clock:
    """The uploader's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SessionStore]:
    opened = SessionStore(tmp_path / "sessions.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


def ended_session(store: SessionStore, plan: str | None = "retro-run-intervals") -> int:
    session, _ = store.open_session("gw1", "tm1", plan, 600)
    fill(store, session)
    store.end_session(session, time.time())
    return session


def intervals_account(double: IntervalsDouble) -> dict[str, Any]:
    return {"api_key": double.api_key, "athlete_id": "0"}


async def drive(uploader: Uploader, clock: Clock, session: int, limit: int = 50) -> list[Upload]:
    """Step until the session's uploads are settled, moving the clock to each next try."""
    for _ in range(limit):
        await uploader.step()
        mine = uploader.queue.of_sessions([session]).get(session, [])
        if not any(u.open for u in mine):
            return mine
        upcoming = uploader.queue.next_try()
        assert upcoming is not None
        clock.t = max(clock.t, upcoming)
    raise AssertionError(f"not settled after {limit} steps: {mine}")


def fit_messages(data: bytes) -> dict[str, list[dict[str, Any]]]:
    """Every FIT message by name, read by fitdecode (CRC checked)."""
    out: dict[str, list[dict[str, Any]]] = {}
    with fitdecode.FitReader(io.BytesIO(data), check_crc=fitdecode.CrcCheck.ENABLED) as fit:
        for frame in fit:
            if isinstance(frame, fitdecode.FitDataMessage):
                values = {f.name: f.value for f in frame.fields}
                out.setdefault(frame.name, []).append(values)
    return out


async def test_a_session_reaches_strava_once_as_the_fit_file_export_writes(
    tmp_path: Path, store: SessionStore, strava: StravaDouble, http: httpx.AsyncClient
) -> None:
    session = ended_session(store)
    accounts = Accounts(tmp_path)
    clock = Clock()
    client = Strava(strava_account(strava), accounts, http, strava.base, clock)
    uploader = Uploader(store, {"strava": client}, now=clock)
    assert UploadQueue(store).enqueue(session, "strava", clock())

    (done,) = await drive(uploader, clock, session)

    assert done.state == "done"
    (activity_id,) = strava.activities
    assert done.link == f"{strava.base}/activities/{activity_id}"
    (received,) = strava.received
    assert received.data == export(store, session, "fit")  # the export's bytes, exactly
    fields = received.fields
    assert fields["data_type"] == "fit"
    assert fields["trainer"] == "1"  # indoors: the moving time is the treadmill's
    assert fields["external_id"] == f"retrogate-gw1-tm1-{session}"
    assert fields["name"] == "Retro run intervals"
    assert "m in 1 stretch" in fields["description"]  # the backward metres
    sport = fit_messages(received.data)["session"][0]
    assert (sport["sport"], sport["sub_sport"]) in (
        ("running", "treadmill"),
        ("walking", "indoor_walking"),
    )
    # the status was asked until ready, never before the next second
    gets = [r for r in strava.requests if r[0] == "GET"]
    assert len(gets) == strava.polls_to_ready + 1
    # once done, the same session is never queued again, not even on purpose
    assert not UploadQueue(store).enqueue(session, "strava", clock(), again=True)
    assert await uploader.step() == 0
    assert len(strava.received) == 1


async def test_a_crash_after_the_file_left_ends_in_the_one_activity_strava_has(
    tmp_path: Path, store: SessionStore, strava: StravaDouble, http: httpx.AsyncClient
) -> None:
    """The row says ``sending`` (committed before the request); the file arrived and
    was made an activity; the gateway died before it wrote down the answer."""
    session = ended_session(store)
    clock = Clock()
    account = strava_account(strava)
    first = Strava(account, Accounts(tmp_path), http, strava.base, clock)
    queue = UploadQueue(store)
    queue.enqueue(session, "strava", clock())
    queue.update(queue.get(session, "strava"), "sending", clock(), attempt=True)
    sent = await first.send(activity_of(store, session))  # ... and then the crash
    assert type(sent).__name__ == "Processing"
    assert len(strava.activities) == 1  # Strava makes the activity all the same

    restarted = Uploader(
        store, {"strava": Strava(account, Accounts(tmp_path), http, strava.base, clock)}, now=clock
    )
    (done,) = await drive(restarted, clock, session)

    assert len(strava.received) == 2
    assert strava.received[0].data == strava.received[1].data
    assert len(strava.activities) == 1  # Strava answered "duplicate of" the first
    (activity_id,) = strava.activities
    assert done.state == "done"
    assert done.link == f"{strava.base}/activities/{activity_id}"
    assert done.message is not None
    assert f"already on Strava as activity {activity_id}" in done.message


async def test_an_unreachable_service_and_5xx_answers_delay_the_upload_and_lose_nothing(
    tmp_path: Path, store: SessionStore, strava: StravaDouble, http: httpx.AsyncClient
) -> None:
    session = ended_session(store)
    clock = Clock()
    account = strava_account(strava)
    with http_double() as gone:
        dead_base = gone.url_for("/").rstrip("/")
    offline = Strava(account, Accounts(tmp_path), http, dead_base, clock)  # connection refused
    uploader = Uploader(store, {"strava": offline}, now=clock)
    queue = UploadQueue(store)
    queue.enqueue(session, "strava", clock())
    for attempt in (1, 2, 3):
        before = clock()
        await uploader.step()
        waiting = queue.get(session, "strava")
        assert waiting.state == "queued"
        assert waiting.attempts == attempt
        assert waiting.message is not None
        assert "cannot reach Strava" in waiting.message
        assert waiting.next_try == pytest.approx(before + BACKOFF_FIRST_S * 2 ** (attempt - 1))
        clock.t = waiting.next_try

    # back online (a new process, as after a restart), but Strava has a bad minute
    strava.fail_next = [503, 502]
    online = Uploader(
        store, {"strava": Strava(account, Accounts(tmp_path), http, strava.base, clock)}, now=clock
    )
    await online.step()
    assert queue.get(session, "strava").message == "Strava answered 503"
    (done,) = await drive(online, clock, session)
    assert done.state == "done"
    assert len(strava.activities) == 1
    assert len(strava.received) == 1


async def test_a_spent_rate_limit_waits_for_stravas_next_window(
    tmp_path: Path, store: SessionStore, strava: StravaDouble, http: httpx.AsyncClient
) -> None:
    session = ended_session(store)
    clock = Clock()
    strava.usage = [200, 1200]  # the 15-minute limit is spent
    client = Strava(strava_account(strava), Accounts(tmp_path), http, strava.base, clock)
    uploader = Uploader(store, {"strava": client}, now=clock)
    queue = UploadQueue(store)
    queue.enqueue(session, "strava", clock())
    await uploader.step()
    waiting = queue.get(session, "strava")
    assert waiting.state == "queued"
    assert "rate limit" in (waiting.message or "")
    quarter = (clock() // WINDOW_S + 1) * WINDOW_S
    assert quarter < waiting.next_try <= quarter + 10
    assert strava.received == []

    strava.usage = [0, 1201]  # the window turned
    (done,) = await drive(uploader, clock, session)
    assert done.state == "done"
    assert len(strava.activities) == 1


async def test_an_expiring_token_is_refreshed_and_saved_readable_by_the_runner_only(
    tmp_path: Path, store: SessionStore, strava: StravaDouble, http: httpx.AsyncClient
) -> None:
    session = ended_session(store)
    clock = Clock()
    accounts = Accounts(tmp_path)
    account = strava_account(strava, expires_in=600)  # ten minutes left: refresh first
    accounts.save("strava", account)
    old_refresh = account["refresh_token"]
    uploader = Uploader(
        store, {"strava": Strava(account, accounts, http, strava.base, clock)}, now=clock
    )
    UploadQueue(store).enqueue(session, "strava", clock())
    (done,) = await drive(uploader, clock, session)
    assert done.state == "done"
    assert strava.refreshes == 1
    saved = accounts.load("strava")
    assert saved is not None
    assert saved["refresh_token"] != old_refresh
    assert saved["expires_at"] > clock() + 3600
    mode = stat.S_IMODE(os.stat(accounts.path("strava")).st_mode)
    assert mode == 0o600


async def test_a_revoked_authorization_waits_for_connect_then_goes(
    tmp_path: Path, store: SessionStore, strava: StravaDouble, http: httpx.AsyncClient
) -> None:
    session = ended_session(store)
    clock = Clock()
    strava.revoked = True
    account = strava_account(strava, expires_in=0)
    uploader = Uploader(
        store, {"strava": Strava(account, Accounts(tmp_path), http, strava.base, clock)}, now=clock
    )
    queue = UploadQueue(store)
    queue.enqueue(session, "strava", clock())
    (stuck,) = await drive(uploader, clock, session)
    assert stuck.state == "unauthorized"
    assert stuck.message is not None
    assert "retrogate connect strava" in stuck.message
    assert strava.received == []

    # `retrogate connect strava` saves new tokens and queues what waited
    assert queue.requeue_unauthorized("strava", clock()) == 1
    fresh = Strava(strava_account(strava), Accounts(tmp_path), http, strava.base, clock)
    (done,) = await drive(Uploader(store, {"strava": fresh}, now=clock), clock, session)
    assert done.state == "done"
    assert len(strava.activities) == 1


async def test_a_file_strava_cannot_read_fails_with_stravas_own_words(
    tmp_path: Path, store: SessionStore, strava: StravaDouble, http: httpx.AsyncClient
) -> None:
    session = ended_session(store)
    clock = Clock()

    def broken(store: SessionStore, number: int) -> Activity:
        good = activity_of(store, number)
        return Activity(number, good.external_id, good.filename, b"not a fit file", good.name,
                        good.description, good.walked)  # fmt: skip

    client = Strava(strava_account(strava), Accounts(tmp_path), http, strava.base, clock)
    uploader = Uploader(store, {"strava": client}, now=clock, activity=broken)
    UploadQueue(store).enqueue(session, "strava", clock())
    (failed,) = await drive(uploader, clock, session)
    assert failed.state == "failed"
    assert failed.message == "Strava refused the file: Improperly formatted data."
    assert strava.activities == {}


async def test_intervals_gets_the_file_once_with_name_description_and_external_id(
    store: SessionStore, intervals: IntervalsDouble, http: httpx.AsyncClient
) -> None:
    session = ended_session(store, plan=None)
    clock = Clock()
    client = Intervals(intervals_account(intervals), http, intervals.base)
    uploader = Uploader(store, {"intervals": client}, now=clock)
    queue = UploadQueue(store)
    queue.enqueue(session, "intervals", clock())
    (done,) = await drive(uploader, clock, session)
    (activity_id,) = intervals.activities
    assert done.state == "done"
    assert done.link == f"{intervals.base}/activities/{activity_id}"
    (received,) = intervals.received
    assert received.data == export(store, session, "fit")
    assert received.fields["external_id"] == f"retrogate-gw1-tm1-{session}"
    assert received.fields["name"] in ("Treadmill run", "Treadmill walk")
    assert "Backward:" in received.fields["description"]

    # a crash after the file left: sent again, and intervals.icu makes no second activity
    queue.update(queue.get(session, "intervals"), "sending", clock())
    (again,) = await drive(uploader, clock, session)
    assert len(intervals.received) == 2
    assert len(intervals.activities) == 1
    assert again.link == done.link


async def test_intervals_refuses_a_wrong_key_and_it_waits_for_connect(
    store: SessionStore, intervals: IntervalsDouble, http: httpx.AsyncClient
) -> None:
    session = ended_session(store)
    clock = Clock()
    wrong = {"api_key": "not-the-key", "athlete_id": "0"}
    uploader = Uploader(store, {"intervals": Intervals(wrong, http, intervals.base)}, now=clock)
    UploadQueue(store).enqueue(session, "intervals", clock())
    (stuck,) = await drive(uploader, clock, session)
    assert stuck.state == "unauthorized"
    assert intervals.received == []


async def test_a_service_not_connected_is_said_and_nothing_is_sent(store: SessionStore) -> None:
    session = ended_session(store)
    clock = Clock()
    platforms: dict[str, Platform] = {}
    uploader = Uploader(store, platforms, now=clock)
    UploadQueue(store).enqueue(session, "strava", clock())
    (stuck,) = await drive(uploader, clock, session)
    assert stuck.state == "unauthorized"
    assert stuck.message == "Strava is not connected: run `retrogate connect strava`"


async def test_no_secret_reaches_the_logs(
    tmp_path: Path,
    store: SessionStore,
    strava: StravaDouble,
    intervals: IntervalsDouble,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every path that talks to the services, with every logger at DEBUG (httpx's too)."""
    caplog.set_level(logging.DEBUG)
    session = ended_session(store)
    clock = Clock()
    strava.fail_next = [503]
    account = strava_account(strava, expires_in=60)  # a refresh too
    uploader = Uploader(
        store,
        {
            "strava": Strava(account, Accounts(tmp_path), http, strava.base, clock),
            "intervals": Intervals(intervals_account(intervals), http, intervals.base),
        },
        now=clock,
    )
    queue = UploadQueue(store)
    queue.enqueue(session, "strava", clock())
    queue.enqueue(session, "intervals", clock())
    settled = await drive(uploader, clock, session)
    assert [u.state for u in settled] == ["done", "done"]
    assert "upload of session" in caplog.text  # the logs were captured
    for secret in [*strava.secrets(), intervals.api_key, account["access_token"]]:
        assert secret not in caplog.text


async def test_a_token_strava_dropped_is_renewed_once_and_the_upload_goes(
    tmp_path: Path, store: SessionStore, strava: StravaDouble, http: httpx.AsyncClient
) -> None:
    """The token has hours left by our clock, but Strava no longer knows it (401)."""
    session = ended_session(store)
    clock = Clock()
    account = strava_account(strava) | {"access_token": "dropped-by-strava"}
    accounts = Accounts(tmp_path)
    uploader = Uploader(
        store, {"strava": Strava(account, accounts, http, strava.base, clock)}, now=clock
    )
    UploadQueue(store).enqueue(session, "strava", clock())
    (done,) = await drive(uploader, clock, session)
    assert done.state == "done"
    assert strava.refreshes == 1
    assert len(strava.activities) == 1
    saved = accounts.load("strava")
    assert saved is not None
    assert saved["access_token"] != "dropped-by-strava"


async def test_an_unexpected_error_fails_that_upload_says_so_and_the_others_go(
    tmp_path: Path, store: SessionStore, strava: StravaDouble, http: httpx.AsyncClient
) -> None:
    """Nothing dies silently: a bug met by one upload ends it as failed, with the
    error in its message and the log, and the queue goes on."""
    first, second = ended_session(store), ended_session(store)
    clock = Clock()

    def buggy(store: SessionStore, number: int) -> Activity:
        if number == first:
            raise RuntimeError("a bug")
        return activity_of(store, number)

    client = Strava(strava_account(strava), Accounts(tmp_path), http, strava.base, clock)
    uploader = Uploader(store, {"strava": client}, now=clock, activity=buggy)
    queue = UploadQueue(store)
    queue.enqueue(first, "strava", clock())
    queue.enqueue(second, "strava", clock())
    (failed,) = await drive(uploader, clock, first)
    assert failed.state == "failed"
    assert failed.message is not None
    assert "RuntimeError('a bug')" in failed.message
    (done,) = await drive(uploader, clock, second)
    assert done.state == "done"


async def test_a_saved_account_that_cannot_be_read_is_said_and_left_out(
    tmp_path: Path, intervals: IntervalsDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """It must never stop a gateway: the other service still uploads."""
    from gateway.config import Settings, UploadConfig
    from gateway.platforms.uploader import platforms

    accounts = Accounts(tmp_path)
    accounts.save("intervals", {"api_key": intervals.api_key})
    accounts.path("strava").write_text("{half a file")
    settings = Settings(data_dir=tmp_path, upload=UploadConfig(intervals_url=intervals.base))
    async with platforms(settings) as found:
        assert sorted(found) == ["intervals"]
    assert "strava.json: not valid JSON" in caplog.text
    assert "run `retrogate connect strava` again" in caplog.text
