"""``retrogate connect`` and ``retrogate sessions upload``, as a runner uses them (issue 27).

The command runs as its own process against the local doubles; the test is
the runner's browser (it follows Strava's redirect to the loopback port) and
the power cut (SIGKILL while an upload is on the wire).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.cli import main
from gateway.platforms.accounts import Accounts
from gateway.store.db import SessionStore
from gateway.store.uploads import UploadQueue
from tests.support.platforms import IntervalsDouble, StravaDouble, connect_both, http_double
from tests.unit.store_helpers import fill

pytestmark = pytest.mark.slow  # a process per command


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("RETROGATE_DATA_DIR", str(data))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return data


def env_for(strava: StravaDouble, intervals: IntervalsDouble) -> dict[str, str]:
    return {
        **os.environ,
        "RETROGATE_UPLOAD__STRAVA_URL": strava.base,
        "RETROGATE_UPLOAD__INTERVALS_URL": intervals.base,
    }


def free_port() -> int:
    with http_double() as probe:
        return probe.port


def retrogate(*argv: str, env: dict[str, str], stdin: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", *argv],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_connect_strava_through_the_loopback_port(
    tmp_path: Path, data_dir: Path, strava: StravaDouble, intervals: IntervalsDouble
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(strava.client_secret + "\n")
    port = free_port()
    proc = retrogate("connect", "strava", "--client-id", strava.client_id, "--secret-file",
                     str(secret), "--port", str(port), env=env_for(strava, intervals))  # fmt: skip
    assert proc.stdout is not None
    url = ""
    for line in proc.stdout:
        if "/oauth/authorize?" in line:
            url = line.strip()
            break
    assert url.startswith(f"{strava.base}/oauth/authorize?"), url
    assert "scope=activity%3Awrite" in url
    # the runner's browser: Strava's page, then its redirect to the Pi's loopback port
    page = httpx.get(url, follow_redirects=True, timeout=10)
    assert page.status_code == 200
    assert "go back to the terminal" in page.text
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "connected to Strava as Rita Retro" in out
    accounts = Accounts(data_dir)
    saved = accounts.load("strava")
    assert saved is not None
    assert saved["access_token"] in strava.secrets()
    assert stat.S_IMODE(os.stat(accounts.path("strava")).st_mode) == 0o600
    for value in strava.secrets():
        assert value not in out + err


def test_connect_strava_refuses_an_authorization_without_uploads(
    tmp_path: Path, data_dir: Path, strava: StravaDouble, intervals: IntervalsDouble
) -> None:
    """The runner unticked "upload your activities": said at once, nothing saved."""
    strava.grant_scope = "read"
    secret = tmp_path / "secret"
    secret.write_text(strava.client_secret)
    proc = retrogate("connect", "strava", "--client-id", strava.client_id, "--secret-file",
                     str(secret), "--paste", env=env_for(strava, intervals), stdin="")  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdin is not None
    url = next(line.strip() for line in proc.stdout if "/oauth/authorize?" in line)
    # the phone's browser ends on an address it cannot open (the Pi's localhost): pasted
    ended_on = httpx.get(url, follow_redirects=False, timeout=10).headers["location"]
    _out, err = proc.communicate(ended_on + "\n", timeout=30)
    assert proc.returncode == 1
    assert "uploads were not allowed (activity:write)" in err
    assert Accounts(data_dir).load("strava") is None


def test_connect_intervals_proves_the_key_and_a_wrong_one_is_refused(
    tmp_path: Path, data_dir: Path, strava: StravaDouble, intervals: IntervalsDouble
) -> None:
    env = env_for(strava, intervals)
    wrong = retrogate("connect", "intervals", env={**env, "RETROGATE_INTERVALS_API_KEY": "nope"})
    _, err = wrong.communicate(timeout=30)
    assert wrong.returncode == 1
    assert err.strip() == "error: intervals.icu refused the API key: run `retrogate connect " \
        "intervals` again"  # fmt: skip
    assert Accounts(data_dir).load("intervals") is None

    key = tmp_path / "key"
    key.write_text(intervals.api_key)
    right = retrogate("connect", "intervals", "--secret-file", str(key), env=env)
    out, err = right.communicate(timeout=30)
    assert right.returncode == 0, err
    assert "connected to intervals.icu as Rita Retro" in out
    assert intervals.api_key not in out + err


def ended_session(data_dir: Path) -> int:
    store = SessionStore.in_dir(data_dir)
    try:
        session, _ = store.open_session("gw1", "tm1", "intro-backward-walk", 600)
        fill(store, session)
        store.end_session(session, time.time())
        return session
    finally:
        store.close()


def test_sessions_upload_a_killed_upload_still_makes_one_activity(
    data_dir: Path,
    strava: StravaDouble,
    intervals: IntervalsDouble,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SIGKILL while Strava holds the answer to the upload: the file is in, the
    gateway never hears back. The next run sends it again and ends on the activity."""
    session = ended_session(data_dir)
    connect_both(data_dir, strava, intervals)
    env = env_for(strava, intervals)
    strava.hold.set()
    proc = retrogate("sessions", "upload", str(session), "--to", "strava", env=env)
    assert strava.arrived.wait(30), "the upload never arrived"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    strava.hold.clear()
    strava.release.set()
    store = SessionStore.in_dir(data_dir)
    try:
        assert UploadQueue(store).get(session, "strava").state == "sending"
    finally:
        store.close()

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["sessions", "upload", "--pending"]) == 0
    out = capsys.readouterr().out
    (activity_id,) = strava.activities
    assert f"session {session} → strava: {strava.base}/activities/{activity_id}" in out
    assert len(strava.received) == 2  # sent twice, one activity

    # asked again: said, not sent
    assert main(["sessions", "upload", str(session), "--to", "strava"]) == 0
    assert "already done" in capsys.readouterr().out
    assert len(strava.received) == 2
    assert main(["sessions"]) == 0
    assert "[strava ok]" in capsys.readouterr().out


def test_sessions_upload_offline_waits_and_says_so(
    data_dir: Path,
    strava: StravaDouble,
    intervals: IntervalsDouble,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    session = ended_session(data_dir)
    connect_both(data_dir, strava, intervals)
    monkeypatch.setenv("RETROGATE_UPLOAD__INTERVALS_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["sessions", "upload", str(session), "--to", "intervals", "--wait", "0"]) == 1
    out = capsys.readouterr().out
    assert f"session {session} → intervals: waiting (cannot reach intervals.icu" in out
    assert main(["sessions"]) == 0
    assert "[intervals queued]" in capsys.readouterr().out
    assert json.dumps(intervals.received, default=str) == "[]"
